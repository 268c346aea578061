import Foundation
import KlammerCrypto
@testable import KlammerTLS
import NIOCore
import NIOPosix
import Testing

@Suite struct BackpressureTests {
    /// The peer stops reading: the handler encrypts only while the channel is writable, holds at most
    /// `maxBufferedOutboundBytes` of plaintext beyond that, refuses further writes, and delivers everything it
    /// accepted once the peer reads again.
    @Test func handlerDoesNotBufferUnboundedlyWhenChannelIsNotWritable() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger, pauseReads: true)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let limit = 256 * 1024
        let client = try await connectClient(
            port: server.port, context: try PKI.clientContext { $0.maxBufferedOutboundBytes = limit },
            logger: logs.logger, recorder: recorder)
        #expect(await eventually { recorder.identity != nil && server.allRecorders.first?.identity != nil })
        #expect(await eventually { server.allRecorders.first?.with({ $0.readsPaused }) == true }, "the server did not switch autoRead off")

        let chunkSize = 64 * 1024
        struct Outcome: Sendable { var whileWritable = 0; var accepted = 0; var refused = 0; var held = 0; var channelPending = 0 }
        let outcome = try await client.eventLoop.submit {
            let handler = try client.pipeline.syncOperations.handler(type: OpenSSLHandler.self)
            var outcome = Outcome()
            let chunk = ByteBuffer(repeating: 0x5A, count: chunkSize)
            // A well-behaved writer: writes only while the channel is writable (bounded loop: at most 1 GiB).
            while client.isWritable && outcome.whileWritable < 16 * 1024 {
                client.writeAndFlush(chunk, promise: nil)
                outcome.whileWritable += 1
            }
            // A misbehaving writer ignores writability: the handler holds up to the limit, then refuses.
            for _ in 0..<10 {
                let promise = client.eventLoop.makePromise(of: Void.self)
                promise.futureResult.whenFailure { _ in }
                let before = handler.bufferedOutboundByteCount
                client.writeAndFlush(chunk, promise: promise)
                if handler.bufferedOutboundByteCount > before { outcome.accepted += 1 } else { outcome.refused += 1 }
            }
            outcome.held = handler.bufferedOutboundByteCount
            return outcome
        }.get()
        let pending = try await client.getOption(ChannelOptions.bufferedWritableBytes).get()
        #expect(!client.isWritable)
        #expect(outcome.whileWritable > 0)
        #expect(outcome.whileWritable < 16 * 1024, "the channel must become unwritable when the peer stops reading")
        #expect(outcome.accepted == limit / chunkSize)
        #expect(outcome.refused == 10 - limit / chunkSize)
        #expect(outcome.held <= limit)
        // Ciphertext queued in the channel stays near the high-water mark: at most one encrypted slice beyond it.
        #expect(pending <= 64 * 1024 + OpenSSLHandler.writeSliceSize + 4096, "channel pending bytes: \(pending)")
        #expect(logs.contains("TLS write refused: outbound-buffer-limit-exceeded"))

        // The peer reads again: everything accepted arrives, the handler's backlog drains.
        let serverChannel = try #require(server.allRecorders.first?.with { $0.channel })
        try await serverChannel.setOption(ChannelOptions.autoRead, value: true).get()
        let expected = (outcome.whileWritable + outcome.accepted) * chunkSize
        #expect(await eventually(timeout: .seconds(20)) { server.allRecorders.first?.received.count == expected })
        let held = try await client.eventLoop.submit {
            try client.pipeline.syncOperations.handler(type: OpenSSLHandler.self).bufferedOutboundByteCount
        }.get()
        #expect(held == 0)
        #expect(await eventually { client.isWritable })
        try await client.close()
    }
}
