import KlammerProtocol
import NIOCore
import NIOEmbedded
import Testing

/// A connection that ends inside a frame is a lost connection, not a malformed frame: the decoder says so with its
/// own error type, so a client retries instead of reporting a protocol violation (the integration suite's broker
/// SIGKILLs produced exactly this).
@Suite struct FrameTruncationTests {
    @Test func endOfInputInsideAFrameIsATruncation() throws {
        let bytes = Fixtures.frames.first { $0.name == "welcome" }!.frame.encodedBytes
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(KlammerFrameDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: bytes.dropLast(5)))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(throws: FrameTruncatedError(pendingBytes: bytes.count - 5)) { try channel.throwIfErrorCaught() }
        _ = try? channel.finish()
    }

    @Test func endOfInputBetweenFramesIsClean() throws {
        let bytes = Fixtures.frames.first { $0.name == "welcome" }!.frame.encodedBytes
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(KlammerFrameDecoder()))
        try channel.writeInbound(ByteBuffer(bytes: bytes))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        try channel.throwIfErrorCaught()
        #expect(try channel.readInbound(as: Frame.self) != nil)
        _ = try? channel.finish()
    }
}
