import NIOCore
import Testing
@testable import KlammerProtocol

@Suite struct MalformedInputTests {
    static let names = Fixtures.frames.map(\.name)

    func bytes(_ name: String) -> [UInt8] { Hex.decode(Vectors.hex(name))! }

    /// Rewrites the length prefix so the frame claims `body` as its complete body.
    func frame(header: [UInt8], body: [UInt8]) -> [UInt8] {
        let length = UInt32(header.count - 4 + body.count)
        return [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
            + header.dropFirst(4) + body
    }

    @Test(arguments: names)
    func everyPrefixNeedsMoreBytes(name: String) throws {
        let full = bytes(name)
        for n in 0..<full.count {
            var buffer = ByteBuffer(bytes: full.prefix(n))
            #expect(try FrameParser.parse(&buffer) == nil, "\(name) prefix \(n)")
            #expect(buffer.readableBytes == n, "nothing consumed")
        }
        // Two frames back to back decode one at a time.
        var two = ByteBuffer(bytes: full + full)
        #expect(try FrameParser.parse(&two) != nil)
        #expect(try FrameParser.parse(&two) != nil)
        #expect(two.readableBytes == 0)
    }

    @Test(arguments: names)
    func everyTruncatedBodyIsMalformed(name: String) throws {
        let full = bytes(name)
        let header = Array(full.prefix(10))
        let body = Array(full.dropFirst(10))
        for n in 0..<body.count {
            let cut = frame(header: header, body: Array(body.prefix(n)))
            #expect(try code { try FrameParser.parseComplete(cut) } == .malformedFrame, "\(name) body cut at \(n)")
        }
    }

    @Test(arguments: names)
    func trailingBytesAreRejected(name: String) throws {
        let full = bytes(name)
        let extended = frame(header: Array(full.prefix(10)), body: Array(full.dropFirst(10)) + [0])
        #expect(try code { try FrameParser.parseComplete(extended) } == .trailingBytes)
    }

    @Test func oversizeLengthIsRejectedFromTheHeaderAlone() throws {
        var limits = ProtocolLimits()
        limits.maxFrameSize = 4096
        var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x10, 0x01])  // 4097, nothing else present
        #expect(try code { try FrameParser.parse(&buffer, limits: limits) } == .frameTooLarge)
        var huge = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x12])
        #expect(try code { try FrameParser.parse(&huge) } == .frameTooLarge)
        var tiny = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x05, 0x04, 0x00, 0, 0, 0])
        #expect(try code { try FrameParser.parse(&tiny) } == .malformedFrame)
    }

    @Test func unknownAndReservedTypesAreRejectedEarly() throws {
        // 0x40/0x41 were reserved until the directory frames were assigned (SPEC.md §4.3); 0x42 is not assigned.
        for type: UInt8 in [0x00, 0x07, 0x16, 0x29, 0x33, 0x42, 0xFF] {
            var buffer = ByteBuffer(bytes: [0x00, 0x00, 0x00, 0x06, type])  // body not yet here
            #expect(try code { try FrameParser.parse(&buffer) } == .unknownFrameType, "type \(type)")
        }
    }

    @Test func oversizeInnerLengthsAreLimitErrors() throws {
        var limits = ProtocolLimits()
        limits.maxChunkSize = 8
        #expect(try code { try FrameParser.parseComplete(bytes("chunk"), limits: limits) } == .limitExceeded)
        limits = ProtocolLimits()
        limits.maxSignatureSize = 4
        #expect(try code { try FrameParser.parseComplete(bytes("send_end"), limits: limits) } == .limitExceeded)
        limits = ProtocolLimits()
        limits.maxTextBytes = 4
        #expect(try code { try FrameParser.parseComplete(bytes("error"), limits: limits) } == .limitExceeded)
        limits = ProtocolLimits()
        limits.maxRoutingSlipEntries = 1
        #expect(try code { try FrameParser.parseComplete(bytes("routing_slip"), limits: limits) } == .limitExceeded)
        limits = ProtocolLimits()
        limits.maxCertificateSize = 2
        #expect(try code { try FrameParser.parseComplete(bytes("deliver_begin"), limits: limits) } == .limitExceeded)
        limits = ProtocolLimits()
        limits.maxFetchCount = 2
        #expect(try code { try FrameParser.parseComplete(bytes("fetch"), limits: limits) } == .limitExceeded)
        // A length field claiming more than the frame holds is a truncation, never an allocation.
        var chunk = bytes("chunk")
        chunk[18] = 0x7F  // data length high byte: above maxChunkSize
        #expect(try code { try FrameParser.parseComplete(chunk) } == .limitExceeded)
        chunk = bytes("chunk")
        chunk[20] = 0x01  // 276 bytes claimed, within the limit, 20 present
        #expect(try code { try FrameParser.parseComplete(chunk) } == .malformedFrame)
    }

    @Test func tooManyRecipients() throws {
        var limits = ProtocolLimits()
        limits.maxRecipients = 1
        #expect(try code { try FrameParser.parseComplete(bytes("send_begin"), limits: limits) } == .tooManyRecipients)
        #expect(try code { try FrameParser.parseComplete(bytes("deliver_begin"), limits: limits) } == .tooManyRecipients)
    }

    @Test func invalidUTF8() throws {
        // ERROR frame message text.
        var error = bytes("error")
        error[14] = 0xC3; error[15] = 0x28
        #expect(try code { try FrameParser.parseComplete(error) } == .invalidUTF8)
        // Envelope subject inside SEND_BEGIN: "Anh\u{f6}rung" -> replace the 0xC3 lead byte with 0xFF.
        var sendBegin = bytes("send_begin")
        let lead = try #require(sendBegin.firstIndex(of: 0xC3))
        sendBegin[lead] = 0xFF
        #expect(try code { try FrameParser.parseComplete(sendBegin) } == .invalidUTF8)
        // Overlong encoding of "/" is not valid UTF-8 either.
        sendBegin = bytes("send_begin")
        sendBegin[lead] = 0xC0; sendBegin[lead + 1] = 0xAF
        #expect(try code { try FrameParser.parseComplete(sendBegin) } == .invalidUTF8)
    }

    @Test func outOfRangeValues() throws {
        var b = bytes("ping")
        b[5] = 1  // flags
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("ping")
        b[9] = 1  // connection-level frame with request id
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("ready")
        b[9] = 0  // request id 0
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("fetch_done")
        b[12] = 2  // bool must be 0 or 1
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("subscribe")
        b[10] = 0x04  // unknown topic bit
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("send_end")
        b[10] = 3  // unknown signature form
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("window_update")
        b[10...13] = [0, 0, 0, 0]
        #expect(try code { try FrameParser.parseComplete(b) } == .flowControlViolation)
        b = bytes("credit")
        b[10...13] = [0, 0, 0, 0]
        #expect(try code { try FrameParser.parseComplete(b) } == .flowControlViolation)
        b = bytes("hello")
        b[10...13] = [0, 2, 0, 1]  // min version > max version
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        b = bytes("send_end_batch")
        b[22] = 0; b[23] = 3  // leaf index 3 of 3
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        // Participant id syntax inside WELCOME: "ags:13004000" -> "AGS:13004000".
        b = bytes("welcome")
        b[13] = UInt8(ascii: "A")
        #expect(try code { try FrameParser.parseComplete(b) } == .invalidValue)
        // ACCEPTED must carry an accepted receipt.
        let wrong = Frame.accepted(.init(requestID: 1, receipt: Fixtures.signedAcknowledged))
        #expect(try code { try FrameParser.parseComplete(wrong.encodedBytes) } == .invalidValue)
        // Empty signatures.
        let empty = Frame.sendEnd(.init(requestID: 1, signature: .single(cms: [])))
        #expect(try code { try FrameParser.parseComplete(empty.encodedBytes) } == .signatureMissing)
    }

    @Test func decodeErrorsBecomeErrorFrames() throws {
        let error = try #require(throws: ProtocolError.self) { try FrameParser.parseComplete([0, 0, 0, 6, 0x99, 0, 0, 0, 0, 0]) }
        let frame = Frame.error(.init(error))
        let decoded = try FrameParser.parseComplete(frame.encodedBytes)
        guard case .error(let e) = decoded else { Issue.record("not an ERROR frame"); return }
        #expect(e.code == .unknownFrameType)
        #expect(e.requestID == 0)
    }
}

@Suite struct DirectoryStatementTests {
    @Test func limitsAndStrictness() throws {
        let statement = Fixtures.directoryStatement
        // Every truncation fails; a trailing byte fails.
        for length in 0..<statement.canonicalBytes.count {
            #expect(throws: ProtocolError.self) { try DirectoryStatement(parsingCanonical: Array(statement.canonicalBytes.prefix(length))) }
        }
        #expect(throws: ProtocolError.self) { try DirectoryStatement(parsingCanonical: statement.canonicalBytes + [0]) }
        // More than 16 certificates, an empty certificate, valid-until before issued-at.
        #expect(throws: ProtocolError.self) {
            try DirectoryStatement(
                participant: Fixtures.recipientA, issuedAtMillis: 1, validUntilMillis: 2, broker: Fixtures.broker,
                certificates: Array(repeating: [0x30, 0x00], count: 17))
        }
        #expect(throws: ProtocolError.self) {
            try DirectoryStatement(
                participant: Fixtures.recipientA, issuedAtMillis: 1, validUntilMillis: 2, broker: Fixtures.broker, certificates: [[]])
        }
        #expect(throws: ProtocolError.self) {
            try DirectoryStatement(
                participant: Fixtures.recipientA, issuedAtMillis: 2, validUntilMillis: 1, broker: Fixtures.broker, certificates: [])
        }
        // An empty list is a valid answer (suspended or revoked participant).
        let empty = try DirectoryStatement(
            participant: Fixtures.recipientA, issuedAtMillis: 1, validUntilMillis: 1, broker: Fixtures.broker, certificates: [])
        #expect(try DirectoryStatement(parsingCanonical: empty.canonicalBytes) == empty)
        // Another structure's bytes never parse as a directory statement (distinct prefix).
        #expect(throws: ProtocolError.self) { try DirectoryStatement(parsingCanonical: Fixtures.ackStatement.canonicalBytes) }
    }
}
