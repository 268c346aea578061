import Foundation
public import KlammerTLS
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
public import ServiceLifecycle

/// The admin API over mutual TLS (`admin.tls.*`, SPEC.md §11.1): the same HTTP/1.1 + JSON endpoints as the Unix
/// socket, for clients whose certificate chains to the broker's CA (current CRLs) **and** whose SHA-256
/// fingerprint is listed. Any other certificate is refused in the handshake's authorization step, before a
/// request byte is read, and the refusal is audited. ALPN `http/1.1`.
public final class AdminTLSServer: Service {
    /// The ALPN protocol the admin listener offers and requires.
    public static let applicationProtocol = "http/1.1"

    private let host: String
    private let port: Int
    private let contextProvider: @Sendable () -> TLSContext
    private let allowed: Set<String>
    private let service: AdminService
    private let logger: Logger
    private let maximumConnections: Int
    private let requestTimeout: TimeAmount
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameters:
    ///   - contextProvider: the server TLS context for each new connection (the broker's certificate, key and trust
    ///     store with ALPN `http/1.1`; see ``adminContext(from:)``).
    ///   - clientFingerprints: lowercase hex SHA-256 fingerprints of the admitted admin certificates.
    ///   - onListening: called with the bound address (port 0 picks a free one).
    public init(
        host: String, port: Int, contextProvider: @escaping @Sendable () -> TLSContext, clientFingerprints: [String],
        service: AdminService, logger: Logger,
        maximumConnections: Int = AdminServer.defaultMaximumConnections,
        requestTimeout: TimeAmount = AdminServer.defaultRequestTimeout,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.contextProvider = contextProvider
        self.allowed = Set(clientFingerprints.map { $0.lowercased() })
        self.service = service
        self.logger = logger
        self.maximumConnections = max(1, maximumConnections)
        self.requestTimeout = requestTimeout
        self.onListening = onListening
    }

    /// The admin listener's TLS context from the broker's server configuration: same certificate, key, trust store,
    /// minimum version and handshake timeout, but ALPN `http/1.1` instead of the Klammer protocol.
    public static func adminContext(from broker: TLSConfiguration) throws -> TLSContext {
        var configuration = broker
        configuration.applicationProtocols = [applicationProtocol]
        configuration.requireApplicationProtocol = true
        return try TLSContext(configuration: configuration)
    }

    public func run() async throws {
        let service = self.service
        let logger = self.logger
        let allowed = self.allowed
        let contextProvider = self.contextProvider
        let requestTimeout = self.requestTimeout
        let maximumConnections = self.maximumConnections
        let connections = ConnectionCounter(limit: maximumConnections)
        let threadPool = NIOThreadPool.singleton
        // Listed fingerprint or nothing; the chain to the CA (and the CRLs) was already checked by the handshake.
        let authorizer = PeerAuthorizer { identity in
            if allowed.contains(identity.fingerprint.hex) { return .accept }
            let actor = AdminCaller.actor(identity)
            logger.warning(
                "admin TLS connection refused: certificate not listed in admin.tls.client_fingerprints", metadata: ["peer": "\(actor)"])
            // The audit write fsyncs: on the blocking pool, not on the cooperative one.
            try? await threadPool.runIfActive { service.refuseCertificate(actor: actor) }
            return .reject(
                reason: "the certificate \(identity.fingerprint.hex) is not an admin certificate (admin.tls.client_fingerprints)")
        }
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton.next())
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.enter() else {
                    logger.warning(
                        "admin TLS connection refused: too many open admin connections", metadata: ["limit": "\(maximumConnections)"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.leave() }
                return configureTLSServerPipeline(channel: channel, context: contextProvider(), authorizer: authorizer, logger: logger)
                    .flatMapThrowing {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(
                            AdminHTTPHandler(
                                service: service, caller: .certificate(nil), threadPool: threadPool, requestTimeout: requestTimeout))
                    }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw AdminError(
                .listenFailed, "cannot listen for the admin API over TLS on \(host):\(port): \(error). Choose another admin.tls.listen.")
        }
        if let address = channel.localAddress {
            logger.info("admin API listening over mutual TLS", metadata: ["address": "\(address)", "admins": "\(allowed.count)"])
            onListening(address)
        }
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            channel.close(promise: nil)
        }
    }
}
