public import NIOCore

/// Strict, incremental frame decoder (SPEC.md §4.2). Pure: no I/O, no state between calls.
public enum FrameParser {
    /// Decodes one frame from the front of `buffer`.
    ///
    /// - Returns: the frame, consuming its bytes; or `nil` (consuming nothing) if the buffer does
    ///   not yet hold a complete frame.
    /// - Throws: `ProtocolError` for any malformed input. Oversize lengths and unknown types are
    ///   detected from the header alone, before the body arrives. After an error the buffer's
    ///   state is unspecified; the connection must be closed.
    public static func parse(_ buffer: inout ByteBuffer, limits: ProtocolLimits = .default) throws -> Frame? {
        let start = buffer.readerIndex
        guard let length = buffer.getInteger(at: start, as: UInt32.self) else { return nil }
        guard length >= Frame.headerSizeAfterLength else {
            throw ProtocolError(.malformedFrame, "frame length \(length) shorter than the 6-byte header")
        }
        guard length <= limits.maxFrameSize else {
            throw ProtocolError(.frameTooLarge, "frame length \(length) exceeds limit \(limits.maxFrameSize)")
        }
        var type: FrameType? = nil
        if let rawType = buffer.getInteger(at: start + 4, as: UInt8.self) {
            type = FrameType(rawValue: rawType)
            guard let t = type, !t.isReserved else {
                throw ProtocolError(.unknownFrameType, "frame type 0x\(String(rawType, radix: 16)) is unknown or reserved")
            }
        }
        guard buffer.readableBytes >= 4 + Int(length), let frameType = type else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)  // length and type, already validated
        let flags = buffer.readInteger(as: UInt8.self) ?? 0
        let requestID = buffer.readInteger(as: UInt32.self) ?? 0
        let body = buffer.readSlice(length: Int(length) - 6) ?? ByteBuffer()
        guard flags == 0 else {
            throw ProtocolError(.invalidValue, "\(frameType): reserved flags 0x\(String(flags, radix: 16)) set")
        }
        return try decodeBody(type: frameType, requestID: requestID, body: body, limits: limits)
    }

    /// Decodes one complete encoded frame and requires that nothing follows it.
    public static func parseComplete(_ bytes: [UInt8], limits: ProtocolLimits = .default) throws -> Frame {
        var buffer = ByteBuffer(bytes: bytes)
        guard let frame = try parse(&buffer, limits: limits) else {
            throw ProtocolError(.malformedFrame, "incomplete frame (\(bytes.count) bytes)")
        }
        guard buffer.readableBytes == 0 else {
            throw ProtocolError(.trailingBytes, "\(buffer.readableBytes) bytes after the frame")
        }
        return frame
    }

    static func decodeBody(type: FrameType, requestID: UInt32, body: ByteBuffer, limits: ProtocolLimits) throws -> Frame {
        var r = WireReader(body, context: type.name)
        if type.isConnectionLevel {
            guard requestID == 0 else { throw r.error(.invalidValue, "connection-level frame with request id \(requestID)") }
        } else if type != .error {
            guard requestID != 0 else { throw r.error(.invalidValue, "request id 0 not allowed") }
        }
        let frame: Frame
        do {
            switch type {
            case .hello: frame = .hello(try .read(&r, limits: limits))
            case .welcome: frame = .welcome(try .read(&r, limits: limits))
            case .error: frame = .error(try .read(&r, requestID: requestID, limits: limits))
            case .ping: frame = .ping(try .read(&r))
            case .pong: frame = .pong(try .read(&r))
            case .goAway: frame = .goAway(try .read(&r, limits: limits))
            case .sendBegin: frame = .sendBegin(try .read(&r, requestID: requestID, limits: limits))
            case .ready: frame = .ready(try .read(&r, requestID: requestID))
            case .chunk: frame = .chunk(try .read(&r, requestID: requestID, limits: limits))
            case .sendEnd: frame = .sendEnd(try .read(&r, requestID: requestID, limits: limits))
            case .accepted: frame = .accepted(try .read(&r, requestID: requestID, limits: limits))
            case .windowUpdate: frame = .windowUpdate(try .read(&r))
            case .fetch: frame = .fetch(try .read(&r, requestID: requestID, limits: limits))
            case .subscribe: frame = .subscribe(try .read(&r, requestID: requestID))
            case .credit: frame = .credit(try .read(&r, requestID: requestID))
            case .deliverBegin: frame = .deliverBegin(try .read(&r, requestID: requestID, limits: limits))
            case .deliverChunk: frame = .deliverChunk(try .read(&r, requestID: requestID, limits: limits))
            case .deliverEnd: frame = .deliverEnd(try .read(&r, requestID: requestID))
            case .ack: frame = .ack(try .read(&r, requestID: requestID, limits: limits))
            case .nack: frame = .nack(try .read(&r, requestID: requestID))
            case .fetchDone: frame = .fetchDone(try .read(&r, requestID: requestID))
            case .receipt: frame = .receipt(try .read(&r, requestID: requestID, limits: limits))
            case .statusRequest: frame = .statusRequest(try .read(&r, requestID: requestID))
            case .routingSlip: frame = .routingSlip(try .read(&r, requestID: requestID, limits: limits))
            case .directoryLookup: frame = .directoryLookup(try .read(&r, requestID: requestID))
            case .directoryAnswer: frame = .directoryAnswer(try .read(&r, requestID: requestID, limits: limits))
            }
        } catch let e as ProtocolError {
            // Nested structures report their own context; prefix the frame name once.
            if e.message.hasPrefix(type.name + ":") { throw e }
            throw ProtocolError(e.code, "\(type.name): \(e.message)")
        }
        try r.finish()
        return frame
    }
}
