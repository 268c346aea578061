import KlammerProtocol
import NIOCore

/// How the lanes (Swift tasks) reach their connection: frames are written through the channel (awaiting each write
/// is the transport back-pressure), results hop to the session handler on its event loop.
struct SessionOutput: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<BrokerSessionHandler>

    /// Writes and flushes one frame; returns once it went to the socket (or throws if the connection is gone).
    func write(_ frame: Frame) async throws {
        try await channel.writeAndFlush(frame).get()
    }

    func post(_ result: RequestResult) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.handle(result) }
    }

    func post(_ result: DeliveryResult) {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.handle(result) }
    }
}
