import Foundation
import KlammerClient
import KlammerProtocol
import KlammerTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// An attacker that speaks the wire protocol itself (TLS + frames), so it can send what `KlammerClient` refuses to
/// send (an envelope naming another sender): the broker's own checks must refuse it, sign a `rejected` receipt and
/// audit it.
final class RawAttacker: Sendable {
    private let channel: any Channel
    private let inbox: Inbox

    static func connect(port: Int, credentials: ClientCredentials) async throws -> RawAttacker {
        let context = try TLSContext(
            configuration: .client(
                certificateChain: credentials.certificateChain,
                privateKey: credentials.privateKey, trustStore: credentials.trustStore))
        let inbox = Inbox()
        let logger = Logger(label: "raw-attacker", factory: { _ in SwiftLogNoOpLogHandler() })
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(KlammerFrameDecoder(limits: .default)))
                    try channel.pipeline.syncOperations.addHandler(Collector(inbox: inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let attacker = RawAttacker(channel: channel, inbox: inbox)
        try await attacker.send(.hello(.init(maxFrameSize: 1 << 20, agent: "klammer-integration-attacker/1")))
        guard case .welcome = await attacker.next(until: { if case .welcome = $0 { true } else { false } }) else {
            attacker.close()
            throw IntegrationError("raw attacker: no WELCOME")
        }
        return attacker
    }

    private init(channel: any Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    func close() { channel.close(promise: nil) }

    /// SEND_BEGIN with `envelope` as request 1; returns the ERROR the broker answers with and the `rejected` receipt
    /// that precedes it (nil if none), waiting at most 10 s.
    func submitBegin(_ envelope: Envelope) async throws -> (error: Frame.ErrorFrame?, rejected: SignedReceipt?) {
        try await send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
        var rejected: SignedReceipt?
        while let frame = await next(until: { _ in true }) {
            switch frame {
            case .receipt(let event) where event.receipt.receipt.kind == .rejected: rejected = event.receipt
            case .error(let error): return (error, rejected)
            case .ready: return (nil, rejected)  // accepted for upload: the broker did not refuse
            default: continue
            }
        }
        return (nil, rejected)
    }

    private func send(_ frame: Frame) async throws {
        var buffer = channel.allocator.buffer(capacity: 512)
        frame.encode(into: &buffer)
        try await channel.writeAndFlush(buffer).get()
    }

    /// The next frame matching `wanted` (others skipped), nil after 10 s or on close.
    private func next(until wanted: (Frame) -> Bool) async -> Frame? {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            switch inbox.take() {
            case .some(.some(let frame)): if wanted(frame) { return frame }
            case .some(.none): return nil  // closed
            case .none: try? await Task.sleep(for: .milliseconds(5))
            }
        }
        return nil
    }

    /// Inbound frames in order; `nil` element = closed.
    final class Inbox: Sendable {
        private let items = Mutex<[Frame?]>([])
        func push(_ item: Frame?) { items.withLock { $0.append(item) } }
        func take() -> Frame?? { items.withLock { $0.isEmpty ? nil : .some($0.removeFirst()) } }
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = Frame
        let inbox: Inbox
        init(inbox: Inbox) { self.inbox = inbox }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.push(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) {
            inbox.push(nil)
            context.fireChannelInactive()
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
