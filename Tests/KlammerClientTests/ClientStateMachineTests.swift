import KlammerProtocol
import NIOCore
import Testing
@testable import KlammerClient

@Suite struct ClientStateMachineTests {
    static let me = try! ParticipantID("ags:13004000")
    static let broker = try! ParticipantID("broker:klammer-1")

    static func welcome(window: UInt32 = 100) -> Frame {
        var limits = ProtocolLimits()
        limits.initialWindowSize = window
        return .welcome(Frame.Welcome(participant: me, brokerID: broker, limits: limits, agent: "test"))
    }

    static func open(window: UInt32 = 100) -> ClientStateMachine {
        var m = ClientStateMachine()
        _ = m.receive(welcome(window: window))
        return m
    }

    static func deliverBegin(request: UInt32, id: MessageID, length: UInt64 = 4, offset: UInt64 = 0) throws -> Frame {
        let envelope = try Envelope(
            clientMessageID: "c1", sender: try ParticipantID("ags:13003000"), recipients: [me],
            subject: "", contentType: "text/plain", createdAtMillis: 1, payloadLength: length,
            payloadDigest: try SHA256Digest(bytes: [UInt8](repeating: 1, count: 32)))
        return .deliverBegin(
            Frame.DeliverBegin(
                requestID: request, storedEnvelope: StoredEnvelope(messageID: id, acceptedAtMillis: 2, envelope: envelope),
                senderSignature: .single(cms: [0x30]), senderCertificate: [0x30], offset: offset))
    }

    func expectViolation(_ action: ClientStateMachine.InboundAction, _ code: ErrorCode, sourceLocation: SourceLocation = #_sourceLocation) {
        guard case .closeConnection(let error, let sendError) = action else {
            Issue.record("expected a connection failure, got \(action)", sourceLocation: sourceLocation)
            return
        }
        #expect(error.kind == .protocolViolation, sourceLocation: sourceLocation)
        #expect(error.code == code, sourceLocation: sourceLocation)
        #expect(sendError?.code == code, sourceLocation: sourceLocation)
        #expect(sendError?.requestID == 0, sourceLocation: sourceLocation)
    }

    @Test func requestsNeedWelcomeAndGetFreshNonZeroIDs() throws {
        var m = ClientStateMachine()
        #expect(throws: KlammerClientError.self) { try m.startRequest(.fetch) }
        guard case .welcome(let w) = m.receive(Self.welcome(window: 77)) else { Issue.record("no welcome"); return }
        #expect(w.participant == Self.me)
        #expect(m.phase == .open)
        #expect(m.window.available == 77)
        let a = try m.startRequest(.upload), b = try m.startRequest(.fetch), c = try m.startRequest(.status)
        #expect(Set([a, b, c]).count == 3)
        #expect(![a, b, c].contains(0))
        _ = try m.startRequest(.subscription)
        #expect(throws: KlammerClientError.self) { try m.startRequest(.subscription) }
    }

    @Test func framesBeforeWelcomeAndClientFramesAreViolations() {
        var m = ClientStateMachine()
        expectViolation(m.receive(.ready(Frame.Ready(requestID: 1, offset: 0))), .unexpectedFrame)
        #expect(m.phase == .closed)
        var n = Self.open()
        expectViolation(n.receive(.fetch(Frame.Fetch(requestID: 1, maxMessages: 1))), .unexpectedFrame)
    }

    @Test func errorBeforeWelcomeEndsTheConnectionWithTheBrokersCode() {
        // The four participant refusals are `participantRefused`, not retryable (SPEC.md §4.5, §4.9).
        for code in [ErrorCode.unknownParticipant, .participantSuspended, .participantRevoked, .certificateNotRegistered] {
            var m = ClientStateMachine()
            let action = m.receive(.error(Frame.ErrorFrame(requestID: 0, code: code, message: "who?")))
            guard case .closeConnection(let error, let send) = action else { Issue.record("\(action)"); return }
            #expect(error.kind == .participantRefused)
            #expect(error.code == code)
            #expect(!error.isRetryable)
            #expect(error.message.contains("who?") && error.message.contains("operator"))
            #expect(send == nil)
        }
        // Other connection errors before WELCOME keep their code and its retryability (a broker shutting down).
        var m = ClientStateMachine()
        guard case .closeConnection(let error, _) = m.receive(.error(Frame.ErrorFrame(requestID: 0, code: .shuttingDown, message: "bye")))
        else {
            Issue.record("expected a close")
            return
        }
        #expect(error.kind == .brokerRefused && error.code == .shuttingDown && error.isRetryable)
    }

    /// A `rejected` receipt for an upload keeps the upload open for its ERROR; other receipt kinds for an upload are
    /// violations.
    @Test func rejectedReceiptForAnUploadPrecedesItsError() throws {
        var m = Self.open()
        let id = try m.startRequest(.upload)
        let rejected = try SignedReceipt(
            receipt: Receipt(
                kind: .rejected, messageID: try MessageID(bytes: [UInt8](repeating: 0, count: 16)),
                envelopeDigest: SHA256Digest(bytes: [UInt8](repeating: 2, count: 32)),
                sender: Self.me, recipient: nil, timestampMillis: 1, brokerID: Self.broker,
                reason: .impersonation),
            brokerSignature: [0x30])
        guard case .rejectedReceipt(id, rejected) = m.receive(.receipt(Frame.ReceiptEvent(requestID: id, receipt: rejected))) else {
            Issue.record("no rejected receipt")
            return
        }
        #expect(m.requests[id] == .upload)
        guard case .requestFailed(id, let error) = m.receive(.error(Frame.ErrorFrame(requestID: id, code: .impersonation, message: "x")))
        else {
            Issue.record("no request failure")
            return
        }
        #expect(error.code == .impersonation)
        let other = try m.startRequest(.upload)
        let accepted = try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: .random(), envelopeDigest: SHA256Digest(bytes: [UInt8](repeating: 2, count: 32)),
                sender: Self.me, recipient: nil, timestampMillis: 1, brokerID: Self.broker, reason: nil),
            brokerSignature: [0x30])
        expectViolation(m.receive(.receipt(Frame.ReceiptEvent(requestID: other, receipt: accepted))), .unexpectedFrame)
    }

    @Test func uploadFlowAndWindowAccounting() throws {
        var m = Self.open(window: 10)
        let id = try m.startRequest(.upload)
        guard case .ready(id, 0) = m.receive(.ready(Frame.Ready(requestID: id, offset: 0))) else { Issue.record("no ready"); return }
        let six = m.consumeWindow(6), five = m.consumeWindow(5), four = m.consumeWindow(4)
        #expect(six)
        #expect(!five)
        #expect(four)
        #expect(m.window.available == 0)
        guard case .windowOpened = m.receive(.windowUpdate(Frame.WindowUpdate(increment: 3))) else { Issue.record("no window"); return }
        #expect(m.window.available == 3)
        // Overflowing 2^31-1 is a flow-control violation.
        expectViolation(m.receive(.windowUpdate(Frame.WindowUpdate(increment: 0x7FFF_FFFF))), .flowControlViolation)
    }

    @Test func acceptedFinishesTheUploadAndLaterFramesForItAreViolations() throws {
        var m = Self.open()
        let id = try m.startRequest(.upload)
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: .random(), envelopeDigest: SHA256Digest(bytes: [UInt8](repeating: 2, count: 32)),
                sender: Self.me, recipient: nil, timestampMillis: 1, brokerID: Self.broker, reason: nil),
            brokerSignature: [0x30])
        guard case .accepted(id, _) = m.receive(.accepted(Frame.Accepted(requestID: id, receipt: receipt))) else {
            Issue.record("no accepted"); return
        }
        #expect(!m.hasRequestsInFlight)
        expectViolation(m.receive(.ready(Frame.Ready(requestID: id, offset: 0))), .unexpectedFrame)
    }

    @Test func requestErrorEndsOnlyThatRequest() throws {
        var m = Self.open()
        let a = try m.startRequest(.upload), b = try m.startRequest(.status)
        let action = m.receive(.error(Frame.ErrorFrame(requestID: a, code: .unknownRecipient, message: "nobody")))
        guard case .requestFailed(a, let error) = action else { Issue.record("\(action)"); return }
        #expect(error.code == .unknownRecipient)
        #expect(m.phase == .open)
        #expect(m.requests[b] == .status)
        // An ERROR for something no longer in flight (e.g. a NACK) is only reported.
        guard case .lateError = m.receive(.error(Frame.ErrorFrame(requestID: 999, code: .unknownMessage, message: "x"))) else {
            Issue.record("not late"); return
        }
        #expect(m.phase == .open)
    }

    @Test func deliveriesMustNotInterleaveAndMustBeContiguousAndComplete() throws {
        var m = Self.open()
        let fetch = try m.startRequest(.fetch)
        let first = MessageID.random(), second = MessageID.random()
        guard case .deliveryBegan = m.receive(try Self.deliverBegin(request: fetch, id: first)) else { Issue.record("no begin"); return }
        guard
            case .deliveryChunk = m.receive(
                .deliverChunk(Frame.DeliverChunk(requestID: fetch, messageID: first, offset: 0, data: ByteBuffer(bytes: [1, 2]))))
        else { Issue.record("no chunk"); return }
        var interleaved = m
        expectViolation(interleaved.receive(try Self.deliverBegin(request: fetch, id: second)), .unexpectedFrame)
        var gap = m
        expectViolation(
            gap.receive(.deliverChunk(Frame.DeliverChunk(requestID: fetch, messageID: first, offset: 3, data: ByteBuffer(bytes: [4])))),
            .chunkOffsetMismatch)
        var early = m
        expectViolation(early.receive(.deliverEnd(Frame.DeliverEnd(requestID: fetch, messageID: first))), .lengthMismatch)
        var tooLong = m
        expectViolation(
            tooLong.receive(
                .deliverChunk(Frame.DeliverChunk(requestID: fetch, messageID: first, offset: 2, data: ByteBuffer(bytes: [3, 4, 5])))),
            .lengthMismatch)
        guard
            case .deliveryChunk = m.receive(
                .deliverChunk(Frame.DeliverChunk(requestID: fetch, messageID: first, offset: 2, data: ByteBuffer(bytes: [3, 4]))))
        else { Issue.record("no chunk"); return }
        guard case .deliveryEnded(fetch, first) = m.receive(.deliverEnd(Frame.DeliverEnd(requestID: fetch, messageID: first))) else {
            Issue.record("no end"); return
        }
        guard
            case .fetchDone(fetch, let done) = m.receive(.fetchDone(Frame.FetchDone(requestID: fetch, delivered: 1, moreAvailable: false)))
        else { Issue.record("no done"); return }
        #expect(done.delivered == 1)
        #expect(!m.hasRequestsInFlight)
    }

    @Test func deliveryForAnUnknownRequestIsAViolation() throws {
        var m = Self.open()
        expectViolation(m.receive(try Self.deliverBegin(request: 42, id: .random())), .unexpectedFrame)
    }

    @Test func receiptsRouteToTheAckOrTheSubscription() throws {
        var m = Self.open()
        let sub = try m.startRequest(.subscription), ack = try m.startRequest(.acknowledge)
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: .random(), envelopeDigest: SHA256Digest(bytes: [UInt8](repeating: 2, count: 32)),
                sender: Self.me, recipient: nil, timestampMillis: 1, brokerID: Self.broker, reason: nil),
            brokerSignature: [0x30])
        guard case .receiptEvent(sub, _) = m.receive(.receipt(Frame.ReceiptEvent(requestID: sub, receipt: receipt))) else {
            Issue.record("no event"); return
        }
        guard case .acknowledged(ack, _) = m.receive(.receipt(Frame.ReceiptEvent(requestID: ack, receipt: receipt))) else {
            Issue.record("no ack"); return
        }
        #expect(m.requests[sub] == .subscription)
        #expect(m.requests[ack] == nil)
        #expect(!m.hasRequestsInFlight)  // a subscription never holds up a graceful close
    }

    @Test func routingSlipFinishesWhenNoMoreFollow() throws {
        var m = Self.open()
        let id = try m.startRequest(.status)
        let message = MessageID.random()
        guard
            case .routingSlip(id, _, false) = m.receive(
                .routingSlip(Frame.RoutingSlip(requestID: id, messageID: message, more: true, receipts: [])))
        else { Issue.record("1"); return }
        guard
            case .routingSlip(id, _, true) = m.receive(
                .routingSlip(Frame.RoutingSlip(requestID: id, messageID: message, more: false, receipts: [])))
        else { Issue.record("2"); return }
        #expect(m.requests[id] == nil)
    }

    @Test func goAwayAbandonsLaterRequestsAndRefusesNewOnes() throws {
        var m = Self.open()
        let a = try m.startRequest(.status), b = try m.startRequest(.fetch)
        let action = m.receive(.goAway(Frame.GoAway(lastRequestID: a, code: .shuttingDown, message: "bye")))
        guard case .goAway(_, let abandoned) = action else { Issue.record("\(action)"); return }
        #expect(abandoned == [b])
        #expect(m.phase == .draining)
        #expect(m.requests[a] == .status)
        #expect(throws: KlammerClientError.self) { try m.startRequest(.fetch) }
        // Answers to open requests still arrive while draining.
        guard case .routingSlip = m.receive(.routingSlip(Frame.RoutingSlip(requestID: a, messageID: .random(), receipts: []))) else {
            Issue.record("slip"); return
        }
        #expect(!m.hasRequestsInFlight)
    }

    @Test func clientCloseSendsGoAwayOnce() throws {
        var m = Self.open()
        let id = try m.startRequest(.fetch)
        let first = m.beginClose()
        let goAway = try #require(first)
        #expect(goAway.lastRequestID == id)
        let again = m.beginClose()
        #expect(again == nil)
        #expect(m.phase == .draining)
    }

    @Test func pingIsAnsweredWithTheSameData() {
        var m = Self.open()
        guard case .sendPong(0xABCD) = m.receive(.ping(Frame.Ping(data: 0xABCD))) else { Issue.record("no pong"); return }
    }

    /// A connection that ends inside a frame (broker killed, network cut) is a lost connection: retryable, and no
    /// ERROR frame is sent into it.
    @Test func truncatedFrameIsALostConnection() {
        var m = Self.open()
        guard case .closeConnection(let error, let sendError) = m.transportFailed(FrameTruncatedError(pendingBytes: 98_304)) else {
            Issue.record("expected the connection to close")
            return
        }
        #expect(error.kind == .connectionFailed)
        #expect(error.isRetryable)
        #expect(sendError == nil)
    }
}

@Suite struct ClientDirectoryStateTests {
    @Test func directoryAnswerFinishesOnlyADirectoryRequest() throws {
        var m = ClientStateMachineTests.open()
        let lookup = try m.startRequest(.directory), status = try m.startRequest(.status)
        let statement = try DirectoryStatement(
            participant: ParticipantID("ags:13003000"), issuedAtMillis: 1, validUntilMillis: 2,
            broker: ParticipantID("broker:test"), certificates: [])
        guard
            case .directoryAnswer(lookup, _) = m.receive(
                .directoryAnswer(.init(requestID: lookup, statement: statement, signature: [0x30])))
        else {
            Issue.record("no directory answer")
            return
        }
        #expect(m.requests[lookup] == nil)
        // An answer for a request of another kind is a protocol violation.
        guard case .closeConnection = m.receive(.directoryAnswer(.init(requestID: status, statement: statement, signature: [0x30]))) else {
            Issue.record("DIRECTORY_ANSWER for a STATUS_REQUEST was accepted")
            return
        }
    }
}
