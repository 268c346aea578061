import KlammerTLS
import NIOCore
import NIOEmbedded
import Testing

/// `FlushCoalescingHandler`: flushes of one event-loop tick become one; 64 KiB unflushed or a close flush at once.
@Suite struct FlushCoalescingHandlerTests {
    /// Counts the flushes that pass it (sits below the coalescer, where the TLS handler would be).
    final class FlushCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    func makeChannel() throws -> (EmbeddedChannel, FlushCounter) {
        let counter = FlushCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(counter)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
        return (channel, counter)
    }

    @Test func flushesOfOneTickBecomeOne() throws {
        let (channel, counter) = try makeChannel()
        for byte in 1...3 {
            channel.write(ByteBuffer(bytes: [UInt8(byte)]), promise: nil)
            channel.flush()
        }
        #expect(counter.flushes == 0)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        for byte in 1...3 {
            #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [UInt8(byte)]))
        }
        // A later write gets its own flush.
        channel.writeAndFlush(ByteBuffer(bytes: [4]), promise: nil)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [4]))
        _ = try channel.finish()
    }

    @Test func manyUnflushedBytesFlushAtOnce() throws {
        let (channel, counter) = try makeChannel()
        channel.writeAndFlush(ByteBuffer(repeating: 0x41, count: FlushCoalescingHandler.maxPendingBytes), promise: nil)
        #expect(counter.flushes == 1)
        channel.embeddedEventLoop.run()
        #expect(counter.flushes == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self)?.readableBytes == FlushCoalescingHandler.maxPendingBytes)
        _ = try channel.finish()
    }

    @Test func closeFlushesWhatIsPending() throws {
        let (channel, counter) = try makeChannel()
        channel.writeAndFlush(ByteBuffer(bytes: [9]), promise: nil)
        #expect(counter.flushes == 0)
        channel.close(promise: nil)
        #expect(counter.flushes == 1)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [9]))
        // Let the closed channel tear its pipeline down (the handlers and the channel reference each other until
        // then; AddressSanitizer's leak check reports the cycle otherwise).
        channel.embeddedEventLoop.run()
        #expect(throws: ChannelError.alreadyClosed) { _ = try channel.finish() }
    }
}
