public import KlammerBroker
import KlammerTLS
public import NIOCore

/// The application end of a dev-mode connection until the message protocol is wired in: once the TLS layer has
/// authorized the peer it greets it with the participant it was identified as, then echoes each line back, so the
/// transport and the registry lookup can be tried with `openssl s_client`. Input is bounded per line.
public final class DevGreeterHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Longest line echoed; a longer one closes the connection.
    public static let maximumLineBytes = 64 * 1024

    private let registry: ParticipantRegistry
    private var pending = ByteBuffer()

    public init(registry: ParticipantRegistry) {
        self.registry = registry
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized(let peer) = event as? TLSEvent {
            let who = registry.participant(forFingerprint: peer.fingerprint)
            let line = "klammer/1 dev transport: authenticated as \(who?.id ?? "?") (\(who?.name ?? "?")), certificate \(peer.fingerprint.hex), \(peer.protocolVersion), \(peer.cipherSuite). Lines you send are echoed.\n"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: line)), promise: nil)
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        pending.writeBuffer(&buffer)
        while let newline = pending.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) {
            let length = newline - pending.readerIndex + 1
            let line = pending.readSlice(length: length)!
            context.write(wrapOutboundOut(line), promise: nil)
        }
        context.flush()
        if pending.readableBytes > Self.maximumLineBytes {
            context.close(promise: nil)
        }
        pending.discardReadBytes()
    }
}
