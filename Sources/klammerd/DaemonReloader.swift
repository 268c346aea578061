import Dispatch
import Foundation
import KlammerAdmin
import KlammerAudit
import KlammerCrypto
import KlammerServer
import KlammerTLS
import Logging
import ServiceLifecycle
import Synchronization

/// `klammerctl reload` and SIGHUP: re-reads the TLS material (CA bundle, CRLs, broker certificate and key) and, in
/// production, the configuration file, without a restart. New connections get the new TLS context; established
/// ones stay, except those whose certificate a new CRL revokes (closed at once through the session hub).
final class DaemonReloader: Sendable {
    /// What a reload read: the new TLS context and certificate, and the configuration keys that changed but only
    /// take effect after a restart.
    struct Loaded {
        var context: TLSContext
        var certificate: Certificate
        var restartRequired: [String]
    }

    private let daemon: BrokerDaemon
    private let load: @Sendable () throws -> Loaded
    private let logger: Logger
    /// Told about the new trust store (the admin API checks certificates of new participants against it).
    private let trustStoreListener = Mutex<(@Sendable (TrustStore) -> Void)?>(nil)
    /// One reload at a time (SIGHUP and the admin API may race).
    private let serial = Mutex(())

    init(daemon: BrokerDaemon, logger: Logger, load: @escaping @Sendable () throws -> Loaded) {
        self.daemon = daemon
        self.logger = logger
        self.load = load
    }

    func onTrustStoreChange(_ listener: @escaping @Sendable (TrustStore) -> Void) {
        trustStoreListener.withLock { $0 = listener }
    }

    /// Re-reads everything; on failure nothing changes (the old material stays in force) and the error says why.
    func reload() throws -> AdminReloadView {
        try serial.withLock { _ in
            let loaded = try load()
            let closed = daemon.reloadTLS(loaded.context, certificate: loaded.certificate)
            let trust = loaded.context.configuration.trustStore
            trustStoreListener.withLock { $0 }?(trust)
            logger.notice(
                "reloaded TLS material",
                metadata: [
                    "anchors": "\(trust.anchors.count)", "crls": "\(trust.crls.count)",
                    "certificate": "\(loaded.certificate.subject)", "closed": "\(closed)"
                ])
            if !loaded.restartRequired.isEmpty {
                logger.warning(
                    "configuration changes need a restart", metadata: ["keys": "\(loaded.restartRequired.joined(separator: ","))"])
            }
            return AdminReloadView(
                caCertificates: trust.anchors.count, crls: trust.crls.count,
                brokerCertificate: loaded.certificate.subject, brokerCertificateNotAfter: loaded.certificate.notAfter,
                connectionsClosed: closed, restartRequired: loaded.restartRequired)
        }
    }
}

/// Turns SIGHUP into a reload, recorded in the audit log like `klammerctl reload` (actor `signal:SIGHUP`).
final class ReloadSignalService: Service {
    private let reloader: DaemonReloader
    private let audit: AuditLog
    private let logger: Logger

    init(reloader: DaemonReloader, audit: AuditLog, logger: Logger) {
        self.reloader = reloader
        self.audit = audit
        self.logger = logger
    }

    func run() async throws {
        // The default action of SIGHUP terminates the process; the dispatch source needs it ignored.
        signal(SIGHUP, SIG_IGN)
        let queue = DispatchQueue(label: "klammerd.reload")
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: queue)
        let reloader = self.reloader, audit = self.audit, logger = self.logger
        source.setEventHandler {
            do {
                let view = try reloader.reload()
                _ = try? audit.append(
                    actor: "signal:SIGHUP", action: "reload", outcome: .ok,
                    details: [
                        "ca_certificates": "\(view.caCertificates)", "crls": "\(view.crls)",
                        "broker_certificate": view.brokerCertificate, "connections_closed": "\(view.connectionsClosed)",
                        "restart_required": view.restartRequired.joined(separator: ",")
                    ])
            } catch {
                logger.error("reload failed; the previous TLS material stays in force", metadata: ["error": "\(error)"])
                _ = try? audit.append(actor: "signal:SIGHUP", action: "reload", outcome: .failed, details: ["error": "\(error)"])
            }
        }
        source.resume()
        try? await gracefulShutdown()
        source.cancel()
    }
}
