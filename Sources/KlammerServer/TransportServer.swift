public import KlammerTLS
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle

/// A mutual-TLS listener as a long-lived service: binds, runs until graceful shutdown, then stops accepting and
/// closes. Each accepted connection gets the TLS handler (with `authorizer`) and then the handlers that
/// `applicationInitializer` adds, which see plaintext only after the peer was authorized.
public final class TransportServer: Service {
    public typealias ApplicationInitializer = @Sendable (any Channel) -> EventLoopFuture<Void>

    private let host: String
    private let port: Int
    private let contextProvider: @Sendable () -> TLSContext
    private let authorizer: PeerAuthorizer
    private let logger: Logger
    private let group: any EventLoopGroup
    private let applicationInitializer: ApplicationInitializer
    private let onListening: @Sendable (SocketAddress) -> Void

    /// - Parameters:
    ///   - group: the event loops to run on (default: NIO's shared singleton group).
    ///   - onListening: called once with the bound address (useful with port 0).
    public convenience init(
        host: String, port: Int, context: TLSContext, authorizer: PeerAuthorizer, logger: Logger,
        group: (any EventLoopGroup)? = nil,
        applicationInitializer: @escaping ApplicationInitializer,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.init(
            host: host, port: port, contextProvider: { context }, authorizer: authorizer, logger: logger,
            group: group, applicationInitializer: applicationInitializer, onListening: onListening)
    }

    /// Like ``init(host:port:context:authorizer:logger:group:applicationInitializer:onListening:)``, but asks
    /// `contextProvider` for the TLS context at every accepted connection, so a reload can swap certificates and
    /// CRLs for new connections while established ones keep theirs.
    public init(
        host: String, port: Int, contextProvider: @escaping @Sendable () -> TLSContext, authorizer: PeerAuthorizer,
        logger: Logger, group: (any EventLoopGroup)? = nil,
        applicationInitializer: @escaping ApplicationInitializer,
        onListening: @escaping @Sendable (SocketAddress) -> Void = { _ in }
    ) {
        self.host = host
        self.port = port
        self.contextProvider = contextProvider
        self.authorizer = authorizer
        self.logger = logger
        self.group = group ?? MultiThreadedEventLoopGroup.singleton
        self.applicationInitializer = applicationInitializer
        self.onListening = onListening
    }

    public func run() async throws {
        let contextProvider = self.contextProvider
        let authorizer = self.authorizer
        let logger = self.logger
        let applicationInitializer = self.applicationInitializer
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                var connectionLogger = logger
                connectionLogger[metadataKey: "peer"] = "\(channel.remoteAddress.map { "\($0)" } ?? "?")"
                return configureTLSServerPipeline(
                    channel: channel, context: contextProvider(), authorizer: authorizer, logger: connectionLogger
                ).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(ConnectionMetricsHandler())
                }.flatMap { applicationInitializer(channel) }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw ServerError(
                .bindFailed, "cannot listen on \(host):\(port): \(error). Is another process using the port? Choose another with --port.")
        }
        if let address = channel.localAddress {
            logger.info("listening", metadata: ["address": "\(address)"])
            onListening(address)
        }
        // Cancellation (e.g. another service of the group failed) also closes the listener, or run() would wait forever.
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            logger.info("shutting down: no longer accepting connections")
            channel.close(promise: nil)
        }
    }
}
