public import Logging
public import NIOCore

/// Adds Klammer's mutual-TLS server handler to a freshly accepted channel (call from
/// `ServerBootstrap.childChannelInitializer`). Application handlers added after it see plaintext only once the
/// peer's certificate verified and `authorizer` accepted its ``PeerIdentity``.
///
/// - Returns: a future that fails if `context` is not a server context.
public func configureTLSServerPipeline(
    channel: any Channel, context: TLSContext, authorizer: PeerAuthorizer, logger: Logger
) -> EventLoopFuture<Void> {
    addTLSHandler(channel: channel, context: context, role: .server, authorizer: authorizer, logger: logger)
}

/// Adds Klammer's mutual-TLS client handler to a channel (call from `ClientBootstrap.channelInitializer`).
/// `authorizer` may pin the server's fingerprint; the default accepts any server whose chain verifies.
public func configureTLSClientPipeline(
    channel: any Channel, context: TLSContext, authorizer: PeerAuthorizer = .acceptAll, logger: Logger
) -> EventLoopFuture<Void> {
    addTLSHandler(channel: channel, context: context, role: .client, authorizer: authorizer, logger: logger)
}

private func addTLSHandler(
    channel: any Channel, context: TLSContext, role: TLSRole, authorizer: PeerAuthorizer, logger: Logger
) -> EventLoopFuture<Void> {
    guard context.configuration.role == role else {
        return channel.eventLoop.makeFailedFuture(
            TLSError(
                .invalidConfiguration,
                "a \(context.configuration.role) TLSContext cannot configure a \(role) pipeline"))
    }
    let add: @Sendable () throws -> Void = {
        try channel.pipeline.syncOperations.addHandler(OpenSSLHandler(context: context, authorizer: authorizer, logger: logger))
    }
    if channel.eventLoop.inEventLoop {
        return channel.eventLoop.makeCompletedFuture(Result(catching: add))
    }
    return channel.eventLoop.submit(add)
}

extension Channel {
    /// The verified peer identity of this channel's ``OpenSSLHandler`` (nil before the handshake completed).
    public func tlsPeerIdentity() -> EventLoopFuture<PeerIdentity?> {
        eventLoop.submit { [self] in
            try pipeline.syncOperations.handler(type: OpenSSLHandler.self).peerIdentity
        }
    }
}
