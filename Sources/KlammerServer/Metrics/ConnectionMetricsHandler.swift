import KlammerTLS
import NIOCore

/// Sits right after the TLS handler: counts open connections and TLS failures before the peer was authorized
/// (handshake errors, refused certificates, timeouts), by the TLS error code. Passes everything on unchanged.
final class ConnectionMetricsHandler: ChannelInboundHandler {
    typealias InboundIn = NIOAny

    private var counted = false
    private var authorized = false
    private var failureCounted = false

    func channelActive(context: ChannelHandlerContext) {
        if !counted {
            counted = true
            BrokerMetrics.openConnections.increment()
        }
        context.fireChannelActive()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        // Added by the child initializer, i.e. possibly after the channel became active.
        if context.channel.isActive, !counted {
            counted = true
            BrokerMetrics.openConnections.increment()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if counted {
            counted = false
            BrokerMetrics.openConnections.decrement()
        }
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized = event as? TLSEvent { authorized = true }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !authorized, !failureCounted, let tls = error as? TLSError {
            failureCounted = true
            BrokerMetrics.tlsFailure(tls.code.description).increment()
        }
        context.fireErrorCaught(error)
    }
}
