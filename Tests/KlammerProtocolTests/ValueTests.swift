import NIOCore
import Testing
@testable import KlammerProtocol

@Suite struct ValueTests {
    @Test(arguments: ["ags:13004000", "a:b", "x-1:A.b_c-D", "abcdefghijklmnop:" + String(repeating: "z", count: 64), "broker:klammer-1"])
    func validParticipantIDs(_ s: String) throws {
        let id = try ParticipantID(s)
        #expect(id.rawValue == s)
        #expect(id.scheme + ":" + id.value == s)
    }

    @Test(arguments: [
        "", "ags", ":1", "ags:", "Ags:1", "1ags:1", "ags:1:2", "ags:1 2", "ags:ä", "a_b:1",
        "abcdefghijklmnopq:1", "ags:" + String(repeating: "z", count: 65), "-a:1", "ags:1/2"
    ])
    func invalidParticipantIDs(_ s: String) {
        #expect(throws: ProtocolError.self) { try ParticipantID(s) }
    }

    @Test func messageIDHex() throws {
        let id = Fixtures.messageID
        #expect(id.description == "00112233445566778899aabbccddeeff")
        #expect(MessageID(hex: id.hex) == id)
        #expect(MessageID(hex: "0011") == nil)
        #expect(MessageID(hex: "zz112233445566778899aabbccddeeff") == nil)
        #expect(throws: ProtocolError.self) { try MessageID(bytes: [1, 2, 3]) }
        #expect(MessageID.random() != MessageID.random())
    }

    @Test func errorCodes() {
        let all = ErrorCode.allKnown
        #expect(Set(all.map(\.name)).count == all.count)
        #expect(all.allSatisfy { (1000..<6000).contains($0.rawValue) })
        #expect(ErrorCode.malformedFrame.name == "MALFORMED_FRAME")
        #expect(ErrorCode.rateLimited.isRetryable)
        #expect(ErrorCode.storageUnavailable.isRetryable)
        #expect(!ErrorCode.signatureInvalid.isRetryable)
        #expect(!ErrorCode.impersonation.isRetryable)
        #expect(ErrorCode(rawValue: 4999).name == "UNKNOWN_4999")
        #expect(ErrorCode(rawValue: 4999).isRetryable)
        #expect(!ErrorCode(rawValue: 3999).isRetryable)
        #expect(ErrorCode.duplicate.description == "DUPLICATE (3006)")
    }

    @Test func flowControlWindow() throws {
        var w = FlowControlWindow(initial: 10)
        try w.consume(4)
        #expect(w.available == 6)
        #expect(throws: ProtocolError.self) { try w.consume(7) }
        try w.grant(100)
        #expect(w.available == 106)
        #expect(throws: ProtocolError.self) { try w.grant(0) }
        #expect(throws: ProtocolError.self) { try w.grant(FlowControlWindow.maxWindow) }
    }

    @Test func limitsValidate() throws {
        try ProtocolLimits.default.validate()
        var l = ProtocolLimits()
        l.maxChunkSize = l.maxFrameSize
        #expect(throws: ProtocolError.self) { try l.validate() }
        l = ProtocolLimits()
        l.maxFrameSize = 32 << 20
        #expect(throws: ProtocolError.self) { try l.validate() }
    }

    @Test func frameTypeMetadata() {
        #expect(Set(FrameType.allCases.map(\.name)).count == FrameType.allCases.count)
        #expect(FrameType.hello.direction == .clientToServer)
        #expect(FrameType.deliverBegin.direction == .serverToClient)
        #expect(!FrameType.directoryLookup.isReserved)
        #expect(FrameType.directoryLookup.direction == .clientToServer)
        for (_, frame) in Fixtures.frames {
            #expect(frame.type.isConnectionLevel == (frame.requestID == 0) || frame.type == .error)
        }
    }
}

@Suite struct ConnectionTests {
    @Test func phaseRules() {
        let p = ConnectionPhase.awaitingHello
        #expect(p.allows(.hello, from: .client))
        #expect(!p.allows(.sendBegin, from: .client))
        #expect(!p.allows(.ping, from: .client))
        #expect(p.allows(.welcome, from: .server))
        #expect(p.allows(.error, from: .server))
        let o = ConnectionPhase.open
        #expect(!o.allows(.hello, from: .client))
        #expect(o.allows(.sendBegin, from: .client))
        #expect(!o.allows(.sendBegin, from: .server))
        #expect(!o.allows(.deliverBegin, from: .client))
        #expect(o.allows(.deliverBegin, from: .server))
        #expect(o.allows(.directoryLookup, from: .client))
        #expect(!o.allows(.directoryAnswer, from: .client))
        #expect(!ConnectionPhase.draining.allows(.directoryLookup, from: .client))
        let d = ConnectionPhase.draining
        #expect(!d.allows(.sendBegin, from: .client))
        #expect(d.allows(.chunk, from: .client))
        #expect(d.allows(.sendEnd, from: .client))
        #expect(d.unexpected(.fetch, from: .client).code == .unexpectedFrame)
    }

    @Test func versionNegotiation() throws {
        #expect(try Frame.Hello(minVersion: 1, maxVersion: 3, maxFrameSize: 4096, agent: "").negotiate() == 1)
        #expect(try Frame.Hello(minVersion: 1, maxVersion: 3, maxFrameSize: 4096, agent: "").negotiate(supported: 2...5) == 3)
        let e = try #require(throws: ProtocolError.self) {
            try Frame.Hello(minVersion: 2, maxVersion: 3, maxFrameSize: 4096, agent: "").negotiate()
        }
        #expect(e.code == .unsupportedVersion)
    }

    @Test func welcomeCarriesLimits() {
        var limits = ProtocolLimits()
        limits.maxChunkSize = 1000
        limits.maxRecipients = 7
        let w = Frame.Welcome(participant: Fixtures.sender, brokerID: Fixtures.broker, limits: limits, agent: "x")
        #expect(w.brokerLimits.maxChunkSize == 1000)
        #expect(w.brokerLimits.maxRecipients == 7)
    }

    @Test func longTextsAreCutNotTrapped() throws {
        let long = String(repeating: "ä", count: 5000)
        let frame = Frame.error(.init(requestID: 1, code: .internalError, message: long))
        guard case .error(let e) = try FrameParser.parseComplete(frame.encodedBytes) else { Issue.record("not ERROR"); return }
        #expect(e.message.utf8.count == 1024)
        #expect(long.hasPrefix(e.message))
    }

    @Test func chunkSizing() throws {
        let n = Frame.maxChunkData(maxFrameSize: 4096, maxChunkSize: 1 << 20)
        var limits = ProtocolLimits()
        limits.maxFrameSize = 4096
        limits.maxChunkSize = 1 << 20
        let chunk = Frame.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(repeating: 1, count: n)))
        #expect(chunk.encodedBytes.count == 4096 + 4)
        _ = try FrameParser.parseComplete(chunk.encodedBytes, limits: limits)
        let m = Frame.maxChunkData(maxFrameSize: 4096, maxChunkSize: 1 << 20, deliver: true)
        let dchunk = Frame.deliverChunk(
            .init(requestID: 1, messageID: Fixtures.messageID, offset: 0, data: ByteBuffer(repeating: 1, count: m)))
        #expect(dchunk.encodedBytes.count == 4096 + 4)
        _ = try FrameParser.parseComplete(dchunk.encodedBytes, limits: limits)
    }
}

@Suite struct CodecWrapperTests {
    @Test func handlersCanBeBuilt() throws {
        _ = ByteToMessageHandler(KlammerFrameDecoder(limits: .default))
        _ = MessageToByteHandler(KlammerFrameEncoder())
        var out = ByteBuffer()
        for (_, frame) in Fixtures.frames { try KlammerFrameEncoder().encode(data: frame, out: &out) }
        // The concatenated stream decodes back frame by frame.
        var decoded: [Frame] = []
        while let f = try FrameParser.parse(&out) { decoded.append(f) }
        #expect(decoded == Fixtures.frames.map(\.frame))
        #expect(out.readableBytes == 0)
    }
}

@Suite struct PayloadCursorTests {
    @Test func contiguousChunks() throws {
        var c = try PayloadCursor(length: 10)
        try c.accept(offset: 0, count: 4)
        #expect(throws: ProtocolError(.chunkOffsetMismatch, "chunk at offset 0, expected 4")) { try c.accept(offset: 0, count: 4) }
        #expect(throws: ProtocolError.self) { try c.finish() }
        #expect(try code { try c.accept(offset: 4, count: 7) } == .lengthMismatch)
        try c.accept(offset: 4, count: 6)
        try c.finish()
        #expect(c.isComplete)
    }

    @Test func resume() throws {
        var c = try PayloadCursor(length: 20, startingAt: 8)
        #expect(try code { try c.accept(offset: 0, count: 8) } == .chunkOffsetMismatch)
        try c.accept(offset: 8, count: 12)
        try c.finish()
        #expect(throws: ProtocolError.self) { try PayloadCursor(length: 5, startingAt: 6) }
    }
}
