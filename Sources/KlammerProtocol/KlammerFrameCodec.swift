public import NIOCore

/// `ByteToMessageDecoder` turning inbound bytes into `Frame`s (use via `ByteToMessageHandler`).
///
/// Each side decodes with its *own* limits (the ones it announced in HELLO/WELCOME), so they
/// never change during a connection. A thrown `ProtocolError` reaches `errorCaught` of the next
/// handler, which should write `Frame.error(.init(error))` and close.
public struct KlammerFrameDecoder: ByteToMessageDecoder {
    /// See the NIO codec protocol.
    public typealias InboundOut = Frame

    /// The receive limits.
    public let limits: ProtocolLimits

    /// Creates a decoder with the given limits.
    public init(limits: ProtocolLimits = .default) { self.limits = limits }

    /// See `ByteToMessageDecoder`.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try FrameParser.parse(&buffer, limits: limits) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// See `ByteToMessageDecoder`.
    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if seenEOF && buffer.readableBytes > 0 {
            throw FrameTruncatedError(pendingBytes: buffer.readableBytes)
        }
        return .needMoreData
    }
}

/// `MessageToByteEncoder` writing `Frame`s (use via `MessageToByteHandler`).
public struct KlammerFrameEncoder: MessageToByteEncoder {
    /// See the NIO codec protocol.
    public typealias OutboundIn = Frame

    /// Creates an encoder.
    public init() {}

    /// See `MessageToByteEncoder`.
    public func encode(data: Frame, out: inout ByteBuffer) throws {
        data.encode(into: &out)
    }
}
