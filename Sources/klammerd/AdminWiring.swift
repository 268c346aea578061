import Foundation
import KlammerAdmin
import KlammerAudit
import KlammerBroker
import KlammerCrypto
import KlammerServer
import Logging
import NIOPosix
import ServiceLifecycle

/// The admin API and the audit log as klammerd runs them, the same in dev and production mode: the audit log in
/// the data directory (checkpoints signed with the broker key), the admin socket, and the daemon's start and stop
/// entries (each followed by a checkpoint).
struct AdminWiring {
    let audit: AuditLog
    let server: AdminServer
    let lifecycle: AuditLifecycleService
    let service: AdminService

    /// Services to add to the daemon's `ServiceGroup`, in start order.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        [.init(service: lifecycle), .init(service: server)]
    }

    init(
        auditPath: String, socketPath: String, registry: ParticipantRegistry, brokerID: String, mode: String,
        trustStore: TrustStore?, brokerCertificate: Certificate, brokerKey: PrivateKey, checkpointInterval: Int,
        logger: Logger, broker: @escaping @Sendable () -> Broker? = { nil },
        reload: (@Sendable () throws -> AdminReloadView)? = nil,
        probe: AdminDaemonProbe? = nil
    ) throws {
        let audit = try AuditLog(
            path: auditPath, signer: try AuditLog.Signer(certificate: brokerCertificate, key: brokerKey),
            checkpointInterval: checkpointInterval)
        if audit.openReport.truncatedTailBytes > 0 {
            logger.warning(
                "audit log: cut off an interrupted last write",
                metadata: ["bytes": "\(audit.openReport.truncatedTailBytes)", "kept": "\(audit.openReport.tornTailFile ?? "-")"])
        }
        // Recorded before any service runs, so `daemon.start` precedes every admin call in the log.
        try audit.append(
            actor: "klammerd", action: "daemon.start", outcome: .ok,
            details: ["mode": mode, "version": Klammerd.configuration.version, "pid": "\(getpid())"])
        try audit.checkpoint()
        let service = AdminService(
            registry: registry, audit: audit, brokerID: brokerID, version: Klammerd.configuration.version, mode: mode,
            trustStore: trustStore, brokerCertificate: brokerCertificate, broker: broker, reload: reload,
            probe: probe)
        self.audit = audit
        self.service = service
        self.server = AdminServer(socketPath: socketPath, service: service, logger: logger) { path in
            // Printed when the socket accepts connections, so scripts and tests can wait for this line.
            FileHandle.standardOutput.write(Data("  admin         \(path)  (klammerctl status --socket \(path))\n".utf8))
        }
        self.lifecycle = AuditLifecycleService(audit: audit, mode: mode, logger: logger)
    }
}

/// Records `daemon.stop` (then a checkpoint) at graceful shutdown (`daemon.start` is written by ``AdminWiring``
/// before the services start). The writes fsync, so they run on NIO's blocking thread pool.
final class AuditLifecycleService: Service {
    private let audit: AuditLog
    private let mode: String
    private let logger: Logger

    init(audit: AuditLog, mode: String, logger: Logger) {
        self.audit = audit
        self.mode = mode
        self.logger = logger
    }

    func run() async throws {
        let audit = self.audit
        let details = ["mode": mode, "pid": "\(getpid())"]
        try? await gracefulShutdown()
        do {
            try await NIOThreadPool.singleton.runIfActive {
                try audit.append(actor: "klammerd", action: "daemon.stop", outcome: .ok, details: details)
                try audit.checkpoint()
            }
        } catch {
            logger.error("audit log: cannot record the daemon's stop", metadata: ["error": "\(error)"])
        }
    }
}

extension AdminDaemonProbe {
    /// The probe of a running ``BrokerDaemon``: its session hub, its current TLS material (after reloads too) and
    /// the directories of the data and the store.
    init(daemon: BrokerDaemon, dataDirectory: String, storeDirectory: String) {
        self.init(
            connections: { (daemon.hub.count, daemon.hub.sessionsByParticipant) },
            certificates: { (daemon.brokerCertificate, daemon.tlsContext.configuration.trustStore.anchors) },
            dataDirectory: dataDirectory, storeDirectory: storeDirectory)
    }
}
