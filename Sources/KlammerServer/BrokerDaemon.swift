import Foundation
public import KlammerBroker
public import KlammerCrypto
import KlammerProtocol
import Synchronization
public import KlammerStore
public import KlammerTLS
public import Logging
public import NIOCore
public import ServiceLifecycle

/// The whole broker as one long-lived service: opens the store, runs the broker core (`Broker.run()` for expiry
/// and dead-letter receipts) and the mutual-TLS listener whose connections speak the Klammer protocol
/// (``BrokerSessionHandler``).
///
/// Graceful shutdown (SIGTERM in klammerd): stop accepting, GOAWAY on every connection, let open requests finish
/// (an upload whose SEND_END arrived is still confirmed) for at most `drainTimeout`, then close the broker and the
/// store.
public final class BrokerDaemon: Service {
    private let host: String
    private let port: Int
    /// The TLS context new connections get; ``reloadTLS(_:certificate:)`` swaps it.
    private let tls: Mutex<(context: TLSContext, certificate: Certificate)>
    private let registry: ParticipantRegistry
    private let storeConfiguration: StoreConfiguration
    private let brokerConfiguration: BrokerConfiguration
    private let sessionConfiguration: SessionConfiguration
    private let logger: Logger
    private let group: (any EventLoopGroup)?
    private let onListening: @Sendable (SocketAddress) -> Void
    /// Connections beyond this many are closed at accept (nil: no limit besides the file descriptors).
    private let maxConnections: Int?
    /// How long shutdown waits for connections to drain.
    public let drainTimeout: Duration
    /// The live sessions (exposed for tests and metrics).
    public let hub: SessionHub
    /// The broker core and its store while `run()` has them open (for the admin API, metrics and health).
    private let running = Mutex<Broker?>(nil)

    /// The broker core while the daemon runs (nil before it opened the store and after it closed it).
    public var broker: Broker? { running.withLock { $0 } }
    /// The message store while the daemon runs.
    public var store: KlammerStore? { broker?.store }
    /// The broker certificate (receipts; `/healthz` watches its expiry).
    public var brokerCertificate: Certificate { tls.withLock { $0.certificate } }
    /// The TLS context new connections get.
    public var tlsContext: TLSContext { tls.withLock { $0.context } }

    /// Re-read TLS material: connections accepted from now on use `context` (its certificate, trust anchors and
    /// CRLs); established connections keep theirs. The broker core checks registered signing certificates against
    /// the new trust store from now on. Then closes live sessions whose client certificate `context`'s
    /// CRLs revoke, among the registry's certificates. Returns how many sessions were closed.
    @discardableResult
    public func reloadTLS(_ context: TLSContext, certificate: Certificate) -> Int {
        tls.withLock { $0 = (context, certificate) }
        // Registered signing certificates are checked against the same CA bundle and CRLs (SPEC.md §7.1 check 10a).
        broker?.updateTrustStore(context.configuration.trustStore)
        let crls = context.configuration.trustStore.crls
        guard !crls.isEmpty else { return 0 }
        var revoked: Set<String> = []
        for participant in registry.all() {
            for registered in participant.certificates {
                guard let parsed = try? Certificate(pem: registered.pem) else { continue }
                if crls.contains(where: { $0.isRevoked(parsed) }) { revoked.insert(registered.fingerprint) }
            }
        }
        let closed = hub.closeConnections(usingCertificates: revoked)
        if closed > 0 {
            logger.notice("closed connections whose certificate a reloaded CRL revokes", metadata: ["connections": "\(closed)"])
        }
        return closed
    }

    /// - Parameters:
    ///   - storeConfiguration: where and how the message store lives (`StoreConfiguration(directory:)`).
    ///   - brokerConfiguration: the broker's id, receipt-signing certificate and key, limits and directory.
    ///   - sessionConfiguration: per-connection timeouts and bounds; its `limits` and `brokerID` are always replaced by
    ///     `brokerConfiguration`'s, so WELCOME announces exactly what the broker core enforces.
    ///   - maxConnections: connections beyond this many are closed at accept, before their handshake.
    ///   - onListening: called once with the bound address (useful with port 0).
    public init(
        host: String, port: Int, tlsContext: TLSContext, registry: ParticipantRegistry,
        storeConfiguration: StoreConfiguration, brokerConfiguration: BrokerConfiguration,
        sessionConfiguration: SessionConfiguration? = nil, drainTimeout: Duration = .seconds(10),
        maxConnections: Int? = nil,
        logger: Logger, group: (any EventLoopGroup)? = nil,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.maxConnections = maxConnections
        self.host = host
        self.port = port
        self.tls = Mutex((tlsContext, brokerConfiguration.certificate))
        self.registry = registry
        self.storeConfiguration = storeConfiguration
        self.brokerConfiguration = brokerConfiguration
        var session =
            sessionConfiguration
            ?? SessionConfiguration(limits: brokerConfiguration.limits, brokerID: brokerConfiguration.brokerID)
        session.limits = brokerConfiguration.limits
        session.brokerID = brokerConfiguration.brokerID
        self.sessionConfiguration = session
        self.drainTimeout = drainTimeout
        self.logger = logger
        self.group = group
        self.onListening = onListening
        // Parked uploads must be resumed before the store sweeps their idle part files.
        self.hub = SessionHub(
            registry: registry,
            parking: UploadParking(lifetime: storeConfiguration.blobAbandonTimeout * 0.8),
            uploadQuota: UploadQuota(perParticipant: session.maxOpenUploadsPerParticipant, total: session.maxOpenUploads),
            requestRate: RequestRateLimiter(perSecond: session.maxRequestsPerSecond))
    }

    public func run() async throws {
        try brokerConfiguration.validate()
        let store: KlammerStore
        do { store = try await KlammerStore.open(storeConfiguration) } catch {
            throw ServerError(.io, "cannot open the message store in \(storeConfiguration.directory): \(error)")
        }
        let broker: Broker
        do {
            broker = try Broker(configuration: brokerConfiguration, registry: registry, store: store, logger: logger)
        } catch {
            await store.close()
            throw ServerError(.io, "cannot start the broker core in \(brokerConfiguration.directory): \(error)")
        }
        running.withLock { $0 = broker }
        broker.updateTrustStore(tlsContext.configuration.trustStore)
        let brokerEvents = Task { await broker.run() }
        let hub = self.hub
        // Parked uploads whose sender never came back are discarded (part file deleted, never delivered) soon after
        // their lifetime, not only when the next upload happens to look (SPEC.md §4.8).
        let parkingSweep = Task {
            let period = min(max(hub.parking.lifetime / 8, .milliseconds(100)), .seconds(30))
            while !Task.isCancelled {
                try? await Task.sleep(for: period)
                hub.parking.expireParked()
            }
        }
        defer { parkingSweep.cancel() }
        // Finished routing slips past their retention leave the receipt log (and its index) instead of growing it forever.
        let receiptCompaction = Task { [logger, interval = brokerConfiguration.receiptCompactionInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                if Task.isCancelled { break }
                do { try await broker.compactReceiptLog() } catch {
                    logger.error("receipt log compaction failed (the log is unchanged, the next try is in \(interval)): \(error)")
                }
            }
        }
        defer { receiptCompaction.cancel() }
        let session = sessionConfiguration
        let logger = self.logger
        // The TLS layer only checks that the client certificate chains to the CA (and CRLs); the registry decides in
        // the session, which answers a refused participant with an ERROR frame naming the code (SPEC.md §1.12, §9.1)
        // instead of a bare TLS close the client could not tell from a broker restart.
        let server = TransportServer(
            host: host, port: port, contextProvider: { [self] in self.tlsContext }, authorizer: .acceptAll, logger: logger, group: group,
            applicationInitializer: { [maxConnections] in
                let initializer: TransportServer.ApplicationInitializer = { channel in
                    BrokerSessionHandler.configure(channel: channel, broker: broker, hub: hub, configuration: session, logger: logger)
                }
                return maxConnections.map { ConnectionLimiter(limit: $0).wrap(initializer) } ?? initializer
            }(),
            onListening: onListening)
        var failure: (any Error)?
        do {
            // TransportServer closes its listener on graceful shutdown and returns; the connections drain after it.
            try await withTaskCancellationOrGracefulShutdownHandler {
                try await server.run()
            } onCancelOrGracefulShutdown: {
                hub.shutdownAll()
            }
        } catch {
            failure = error
        }
        hub.shutdownAll()
        if await !hub.waitUntilEmpty(timeout: drainTimeout) {
            logger.warning("connections still open after the drain timeout; closing the store anyway", metadata: ["open": "\(hub.count)"])
        }
        running.withLock { $0 = nil }
        broker.close()
        await store.close()
        _ = await brokerEvents.value
        logger.info("broker stopped")
        if let failure { throw failure }
    }
}
