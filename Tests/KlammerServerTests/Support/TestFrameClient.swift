import Foundation
import KlammerCrypto
import KlammerProtocol
import KlammerTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What the test client observed on its connection.
enum ClientEvent: Sendable, Equatable {
    case frame(Frame)
    case closed
}

/// Collects a connection's inbound frames (thread-safe); tests take them in order with a deadline.
final class FrameInbox: Sendable {
    private let events = Mutex<[ClientEvent]>([])
    func push(_ e: ClientEvent) { events.withLock { $0.append(e) } }

    /// The next event, waiting at most `timeout` (bounded polling, no races).
    func next(timeout: Duration = .seconds(5)) async -> ClientEvent? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let e = events.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return e }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Outbound items of the test client: a frame, or raw bytes (for malformed input).
enum ClientOutbound: Sendable {
    case frame(Frame)
    case raw([UInt8])
}

/// The test client's application handler: decodes nothing itself (the codec before it does), encodes frames and
/// raw bytes, and hands every inbound frame to the inbox.
final class ClientCollector: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = ClientOutbound
    typealias OutboundOut = ByteBuffer
    let inbox: FrameInbox
    init(inbox: FrameInbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.push(.frame(unwrapInboundIn(data)))
    }
    func channelInactive(context: ChannelHandlerContext) {
        inbox.push(.closed)
        context.fireChannelInactive()
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var buffer = context.channel.allocator.buffer(capacity: 256)
        switch unwrapOutboundIn(data) {
        case .frame(let f): f.encode(into: &buffer)
        case .raw(let bytes): buffer.writeBytes(bytes)
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }
}

/// A minimal Klammer client for tests: NIO ClientBootstrap + KlammerTLS client pipeline + KlammerFrameCodec.
final class TestFrameClient: Sendable {
    let channel: any Channel
    let inbox: FrameInbox

    static func connect(
        port: Int, identity: TestIdentity, trust: TrustStore,
        applicationProtocols: [String] = [klammerALPN]
    ) async throws -> TestFrameClient {
        var config = TLSConfiguration.client(certificateChain: [identity.certificate], privateKey: identity.key, trustStore: trust)
        config.applicationProtocols = applicationProtocols
        let context = try TLSContext(configuration: config)
        let inbox = FrameInbox()
        let logger = Logger(label: "test-client", factory: { _ in SwiftLogNoOpLogHandler() })
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(KlammerFrameDecoder(limits: .default)))
                    try sync.addHandler(ClientCollector(inbox: inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return TestFrameClient(channel: channel, inbox: inbox)
    }

    private init(channel: any Channel, inbox: FrameInbox) {
        self.channel = channel
        self.inbox = inbox
    }

    func send(_ frame: Frame) async throws { try await channel.writeAndFlush(ClientOutbound.frame(frame)).get() }
    func sendRaw(_ bytes: [UInt8]) async throws { try await channel.writeAndFlush(ClientOutbound.raw(bytes)).get() }
    func close() { channel.close(promise: nil) }

    /// The next frame (nil on close or timeout).
    func next(timeout: Duration = .seconds(5)) async -> Frame? {
        if case .frame(let f) = await inbox.next(timeout: timeout) { return f }
        return nil
    }

    /// The next frame that is not a WINDOW_UPDATE, PING or PONG.
    func nextSignificant(timeout: Duration = .seconds(5)) async -> Frame? {
        while let f = await next(timeout: timeout) {
            switch f {
            case .windowUpdate, .ping, .pong: continue
            default: return f
            }
        }
        return nil
    }

    /// Waits until the connection is closed; returns the frames seen before (bounded by `timeout`).
    func framesUntilClosed(timeout: Duration = .seconds(5)) async -> [Frame]? {
        var frames: [Frame] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            switch await inbox.next(timeout: deadline - ContinuousClock.now) {
            case .frame(let f): frames.append(f)
            case .closed: return frames
            case nil: return nil
            }
        }
        return nil
    }

    /// HELLO → WELCOME.
    func hello(maxFrameSize: UInt32 = 1 << 20) async throws -> Frame.Welcome? {
        try await send(.hello(.init(maxFrameSize: maxFrameSize, agent: "klammer-test/1")))
        if case .welcome(let w) = await next() { return w }
        return nil
    }
}
