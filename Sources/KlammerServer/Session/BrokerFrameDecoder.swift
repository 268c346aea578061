public import KlammerProtocol
public import NIOCore

/// The broker's inbound frame decoder (use via `ByteToMessageHandler`). Identical to `KlammerFrameDecoder`
/// (`FrameParser`, SPEC.md §4.2 decoding order) except that a complete SEND_BEGIN keeps its envelope as raw bytes
/// (``InboundFrame/sendBegin(requestID:form:envelopeBytes:)``), so envelope errors stay request-scoped.
///
/// A thrown `ProtocolError` is fatal: the session answers ERROR(0) and closes.
public struct BrokerFrameDecoder: ByteToMessageDecoder {
    /// See the NIO codec protocol.
    public typealias InboundOut = InboundFrame

    /// The broker's receive limits.
    public let limits: ProtocolLimits

    /// Creates a decoder with the broker's limits.
    public init(limits: ProtocolLimits) { self.limits = limits }

    /// See `ByteToMessageDecoder`.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.parse(&buffer, limits: limits) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    /// See `ByteToMessageDecoder`.
    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if seenEOF && buffer.readableBytes > 0 {
            throw ProtocolError(.malformedFrame, "connection closed inside a frame (\(buffer.readableBytes) bytes pending)")
        }
        return .needMoreData
    }

    /// Decodes one frame from the front of `buffer` (nil = incomplete, nothing consumed).
    public static func parse(_ buffer: inout ByteBuffer, limits: ProtocolLimits) throws -> InboundFrame? {
        let start = buffer.readerIndex
        // Only a complete, correctly sized SEND_BEGIN takes the raw path; everything else (including the early
        // length/type checks of a SEND_BEGIN still arriving) goes through FrameParser unchanged.
        guard let length = buffer.getInteger(at: start, as: UInt32.self),
            length >= Frame.headerSizeAfterLength, length <= limits.maxFrameSize,
            buffer.getInteger(at: start + 4, as: UInt8.self) == FrameType.sendBegin.rawValue,
            buffer.readableBytes >= 4 + Int(length)
        else {
            return try FrameParser.parse(&buffer, limits: limits).map { .frame($0) }
        }
        buffer.moveReaderIndex(forwardBy: 5)
        let flags = buffer.readInteger(as: UInt8.self) ?? 0
        let requestID = buffer.readInteger(as: UInt32.self) ?? 0
        var body = buffer.readSlice(length: Int(length) - 6) ?? ByteBuffer()
        guard flags == 0 else {
            throw ProtocolError(.invalidValue, "SEND_BEGIN: reserved flags 0x\(String(flags, radix: 16)) set")
        }
        guard requestID != 0 else { throw ProtocolError(.invalidValue, "SEND_BEGIN: request id 0 not allowed") }
        guard let rawForm = body.readInteger(as: UInt8.self) else {
            throw ProtocolError(.malformedFrame, "SEND_BEGIN: signature form extends past the end of the frame")
        }
        guard let form = SignatureForm(rawValue: rawForm) else {
            throw ProtocolError(.invalidValue, "SEND_BEGIN: unknown signature form \(rawForm)")
        }
        guard let envelopeLength = body.readInteger(as: UInt32.self) else {
            throw ProtocolError(.malformedFrame, "SEND_BEGIN: envelope length extends past the end of the frame")
        }
        guard Int(envelopeLength) <= body.readableBytes else {
            throw ProtocolError(.malformedFrame, "SEND_BEGIN: envelope of \(envelopeLength) bytes extends past the end of the frame")
        }
        let envelope = body.readBytes(length: Int(envelopeLength)) ?? []
        guard body.readableBytes == 0 else {
            throw ProtocolError(.trailingBytes, "SEND_BEGIN: \(body.readableBytes) bytes after the envelope")
        }
        return .sendBegin(requestID: requestID, form: form, envelopeBytes: envelope)
    }
}
