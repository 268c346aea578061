import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerTestSupport
import NIOCore
import Testing

/// The broker session over real TLS on 127.0.0.1, with the test frame client.
@Suite struct SessionTests {
    @Test func helloIsAnsweredWithWelcomeNamingTheCertificatesParticipant() async throws {
        try await withServer { server in
            let client = try await server.connect(TestPKI.a)
            defer { client.close() }
            let welcome = try #require(try await client.hello())
            #expect(welcome.version == 1)
            #expect(welcome.participant.rawValue == TestPKI.a.id)
            #expect(welcome.brokerID.rawValue == ServerFixture.brokerID)
            #expect(welcome.maxFrameSize == ProtocolLimits.default.maxFrameSize)
            #expect(welcome.initialWindowSize == ProtocolLimits.default.initialWindowSize)
            // The connection works after WELCOME.
            try await client.send(.ping(.init(data: 42)))
            #expect(await client.next() == .pong(.init(data: 42)))
        }
    }

    @Test func sendFetchAckAndRoutingSlip() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            defer { a.close(); b.close() }

            let payload = payloadBytes(100_000)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted(let accepted) = try await a.upload(requestID: 1, envelope: envelope, payload: payload, chunkSize: 30_000)
            else {
                Issue.record("no ACCEPTED")
                return
            }
            #expect(accepted.requestID == 1)
            #expect(accepted.receipt.receipt.kind == .accepted)
            try CMS.verifyDetached(
                signature: accepted.receipt.brokerSignature, content: accepted.receipt.receipt.canonicalBytes,
                signer: TestPKI.broker.certificate)
            let messageID = accepted.receipt.receipt.messageID

            try await b.send(.fetch(.init(requestID: 7, maxMessages: 10)))
            let delivery = try #require(await b.receiveDelivery())
            #expect(delivery.begin.requestID == 7)
            #expect(delivery.begin.storedEnvelope.messageID == messageID)
            #expect(delivery.begin.storedEnvelope.envelope == envelope)
            #expect(sameBytes(delivery.payload, payload))
            #expect(delivery.begin.senderCertificate == TestPKI.a.certificate.derBytes)
            // The recipient can verify the sender's signature offline.
            try CMS.verifyDetached(
                signature: delivery.begin.senderSignature.cms, content: envelope.canonicalBytes,
                signer: try Certificate(der: delivery.begin.senderCertificate))
            #expect(await b.nextSignificant() == .fetchDone(.init(requestID: 7, delivered: 1, moreAvailable: false)))

            let statement = try AcknowledgementStatement(
                messageID: messageID, envelopeDigest: accepted.receipt.receipt.envelopeDigest,
                sender: ParticipantID(TestPKI.a.id), recipient: ParticipantID(TestPKI.b.id),
                timestampMillis: 1_795_599_060_000)
            let ackSignature = try CMS.signDetached(statement.canonicalBytes, certificate: TestPKI.b.certificate, key: TestPKI.b.key)
            try await b.send(.ack(.init(requestID: 8, statement: statement, signature: ackSignature)))
            guard case .receipt(let ackReceipt) = await b.nextSignificant() else {
                Issue.record("no RECEIPT for ACK")
                return
            }
            #expect(ackReceipt.requestID == 8)
            #expect(ackReceipt.receipt.receipt.kind == .acknowledged)
            #expect(ackReceipt.receipt.acknowledgement?.signature == ackSignature)

            try await a.send(.statusRequest(.init(requestID: 2, messageID: messageID)))
            guard case .routingSlip(let slip) = await a.nextSignificant() else {
                Issue.record("no ROUTING_SLIP")
                return
            }
            #expect(slip.requestID == 2 && !slip.more)
            #expect(slip.receipts.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])

            // Somebody else's message is not visible.
            let c = try await server.session(TestPKI.c)
            defer { c.close() }
            try await c.send(.statusRequest(.init(requestID: 3, messageID: messageID)))
            #expect(errorFrame(await c.nextSignificant())?.code == .unknownMessage)
        }
    }

    @Test func subscriptionPushesDeliveriesAndReceiptEvents() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            defer { a.close(); b.close() }
            try await b.send(.subscribe(.init(requestID: 5, topics: .deliveries, credits: 1)))
            try await a.send(.subscribe(.init(requestID: 9, topics: .receipts, credits: 0)))
            // Make sure both subscriptions are in place before sending (a PING round trip orders them).
            try await a.send(.ping(.init(data: 1)))
            #expect(await a.next() == .pong(.init(data: 1)))
            try await b.send(.ping(.init(data: 2)))
            #expect(await b.next() == .pong(.init(data: 2)))

            let payload = payloadBytes(5000)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            try await a.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
            #expect(await a.nextSignificant() == .ready(.init(requestID: 1, offset: 0)))
            try await a.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload))))
            let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: TestPKI.a.certificate, key: TestPKI.a.key)
            try await a.send(.sendEnd(.init(requestID: 1, signature: .single(cms: cms))))

            let pushed = try #require(await b.receiveDelivery())
            #expect(pushed.begin.requestID == 5)
            #expect(sameBytes(pushed.payload, payload))

            // A sees ACCEPTED and, on its subscription, the accepted and delivered receipts.
            var kinds: [Receipt.Kind] = []
            var sawAccepted = false
            let deadline = ContinuousClock.now + .seconds(5)
            while ContinuousClock.now < deadline, kinds.count < 2 || !sawAccepted {
                guard let f = await a.nextSignificant() else { break }
                switch f {
                case .accepted: sawAccepted = true
                case .receipt(let r) where r.requestID == 9: kinds.append(r.receipt.receipt.kind)
                default: Issue.record("unexpected \(f)")
                }
            }
            #expect(sawAccepted)
            #expect(kinds == [.accepted, .delivered])

            // No credit left: a second message waits until CREDIT.
            let second = payloadBytes(10, seed: 3)
            let envelope2 = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: second)
            let answer = try await a.upload(requestID: 2, envelope: envelope2, payload: second)
            guard case .accepted = answer else { Issue.record("second send: \(String(describing: answer))"); return }
            #expect(await b.next(timeout: .milliseconds(300)) == nil)
            try await b.send(.credit(.init(requestID: 5, credits: 1)))
            let later = try #require(await b.receiveDelivery())
            #expect(sameBytes(later.payload, second))
        }
    }

    @Test func duplicateSendReturnsTheOriginalReceipt() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let payload = payloadBytes(300)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload, clientID: "dup-1")
            guard case .accepted(let first) = try await a.upload(requestID: 1, envelope: envelope, payload: payload) else {
                Issue.record("no ACCEPTED")
                return
            }
            try await a.send(.sendBegin(.init(requestID: 2, signatureForm: .single, envelope: envelope)))
            guard case .accepted(let again) = await a.nextSignificant() else {
                Issue.record("duplicate not answered with ACCEPTED")
                return
            }
            #expect(again.requestID == 2)
            #expect(again.receipt.encodedBytes == first.receipt.encodedBytes)
        }
    }

    @Test func requestErrorsKeepTheConnectionOpen() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let payload = payloadBytes(64)

            // Unknown recipient.
            let unknown = try Envelope(
                clientMessageID: "u-1", sender: ParticipantID(TestPKI.a.id),
                recipients: [ParticipantID("ags:99999999")], subject: "x", contentType: "text/plain",
                createdAtMillis: 1, payloadLength: 64, payloadDigest: SHA256Digest(bytes: SHA256.hash(payload)),
                timeToLiveSeconds: nil)
            try await a.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: unknown)))
            // The signed `rejected` receipt comes first (SPEC.md §7.5), then the ERROR.
            guard case .receipt(let r1) = await a.nextSignificant() else { Issue.record("no rejected receipt"); return }
            #expect(r1.requestID == 1 && r1.receipt.receipt.kind == .rejected && r1.receipt.receipt.reason == .unknownRecipient)
            #expect(r1.receipt.receipt.recipient?.rawValue == "ags:99999999")
            #expect(r1.receipt.receipt.envelopeDigest.bytes == SHA256.hash(unknown.canonicalBytes))
            #expect(r1.receipt.receipt.messageID.bytes == [UInt8](repeating: 0, count: 16))
            try CMS.verifyDetached(
                signature: r1.receipt.brokerSignature, content: r1.receipt.receipt.canonicalBytes,
                signer: TestPKI.broker.certificate)
            let e1 = try #require(errorFrame(await a.nextSignificant()))
            #expect(e1.requestID == 1 && e1.code == .unknownRecipient)

            // Impersonation: A's certificate, envelope sender B.
            let impersonating = try makeEnvelope(from: TestPKI.b, to: [TestPKI.c], payload: payload)
            try await a.send(.sendBegin(.init(requestID: 2, signatureForm: .single, envelope: impersonating)))
            // The rejected receipt names who tried (A), not the victim in the envelope.
            guard case .receipt(let r2) = await a.nextSignificant() else { Issue.record("no rejected receipt"); return }
            #expect(r2.receipt.receipt.sender.rawValue == TestPKI.a.id && r2.receipt.receipt.reason == .impersonation)
            #expect(r2.receipt.receipt.recipient == nil)
            let e2 = try #require(errorFrame(await a.nextSignificant()))
            #expect(e2.requestID == 2 && e2.code == .impersonation)

            // Forged signature: a valid CMS by A, but over other bytes.
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            let forged = try CMS.signDetached(Array("not the envelope".utf8), certificate: TestPKI.a.certificate, key: TestPKI.a.key)
            let (answer3, rejected3) = try await a.uploadRejected(requestID: 3, envelope: envelope, payload: payload, signature: forged)
            let e3 = try #require(errorFrame(answer3))
            #expect(e3.requestID == 3 && e3.code == .signatureInvalid)
            #expect(rejected3?.receipt.reason == .signatureInvalid)

            // Signed by a certificate of the same CA that is not registered for A.
            let e4 = try #require(
                errorFrame(try await a.upload(requestID: 4, envelope: envelope, payload: payload, signer: TestPKI.stranger)))
            #expect(e4.requestID == 4 && e4.code == .certificateNotRegistered)

            // Too many recipients is the request's problem, not the connection's (envelope parsed by the broker).
            let many = try (0..<300).map { try ParticipantID("ags:\(String(format: "%08d", $0))") }
            let big = try Envelope(
                clientMessageID: "many", sender: ParticipantID(TestPKI.a.id), recipients: many, subject: "",
                contentType: "text/plain", createdAtMillis: 1, payloadLength: 1,
                payloadDigest: SHA256Digest(bytes: SHA256.hash([1])), timeToLiveSeconds: nil)
            try await a.send(.sendBegin(.init(requestID: 5, signatureForm: .single, envelope: big)))
            let e5 = try #require(errorFrame(await a.nextSignificant()))
            #expect(e5.requestID == 5 && e5.code == .tooManyRecipients)

            // Still open: the right message goes through on the same connection.
            guard case .accepted = try await a.upload(requestID: 6, envelope: envelope, payload: payload) else {
                Issue.record("connection did not survive request errors")
                return
            }
        }
    }

    @Test func protocolViolationsCloseTheConnectionWithTheRightCode() async throws {
        try await withServer { server in

            // A frame before HELLO.
            let early = try await server.connect(TestPKI.a)
            try await early.send(.ping(.init(data: 1)))
            #expect(errorFrame(try #require(await early.framesUntilClosed()).last)?.code == .unexpectedFrame)

            // Wrong direction: a broker-only frame from the client.
            let wrong = try await server.session(TestPKI.a)
            try await wrong.send(.ready(.init(requestID: 1, offset: 0)))
            let wrongFrames = try #require(await wrong.framesUntilClosed())
            #expect(errorFrame(wrongFrames.last)?.code == .unexpectedFrame)
            #expect(errorFrame(wrongFrames.last)?.requestID == 0)

            // Malformed: length prefix shorter than the header.
            let malformed = try await server.session(TestPKI.a)
            try await malformed.sendRaw([0, 0, 0, 3, 1, 0, 0])
            #expect(errorFrame(try #require(await malformed.framesUntilClosed()).last)?.code == .malformedFrame)

            // Flags set.
            let flags = try await server.session(TestPKI.a)
            try await flags.sendRaw([0, 0, 0, 0x0e, 0x04, 0x01, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8))
            #expect(errorFrame(try #require(await flags.framesUntilClosed()).last)?.code == .invalidValue)

            // Oversized: decided from the length prefix alone.
            let oversized = try await server.session(TestPKI.a)
            try await oversized.sendRaw([0x01, 0x00, 0x00, 0x00, 0x12])
            #expect(errorFrame(try #require(await oversized.framesUntilClosed()).last)?.code == .frameTooLarge)

            // A truncated SEND_BEGIN envelope blob is a framing error, not a request error.
            let truncated = try await server.session(TestPKI.a)
            try await truncated.sendRaw([0, 0, 0, 0x0f, 0x10, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0x20, 0xAA, 0xBB, 0xCC, 0xDD])
            #expect(errorFrame(try #require(await truncated.framesUntilClosed()).last)?.code == .malformedFrame)

            // Reusing a request id in flight.
            let dup = try await server.session(TestPKI.b)
            try await dup.send(.subscribe(.init(requestID: 4, topics: .deliveries, credits: 0)))
            try await dup.send(.fetch(.init(requestID: 4, maxMessages: 1)))
            #expect(errorFrame(try #require(await dup.framesUntilClosed()).last)?.code == .duplicateRequestID)

            // The server is still fine for everybody else.
            let fine = try await server.session(TestPKI.c)
            try await fine.send(.ping(.init(data: 9)))
            #expect(await fine.next() == .pong(.init(data: 9)))
            fine.close()
        }
    }

    @Test func suspendingAParticipantCutsItsLiveConnectionWithinOneSecond() async throws {
        try await withServer { server in
            let b = try await server.session(TestPKI.b)
            let started = ContinuousClock.now
            _ = try server.registry.setStatus(.suspended, of: TestPKI.b.id)
            let frames = try #require(await b.framesUntilClosed(timeout: .seconds(1)))
            #expect(ContinuousClock.now - started < .seconds(1))
            let error = try #require(errorFrame(frames.last))
            #expect(error.code == .participantSuspended && error.requestID == 0)
            #expect(error.message.contains(TestPKI.b.id))

            // Removing the certificate of a connected participant cuts it too.
            let c = try await server.session(TestPKI.c)
            _ = try server.registry.addCertificate(TestPKI.stranger.certificate, to: TestPKI.c.id)
            _ = try server.registry.removeCertificate(fingerprint: TestPKI.c.certificate.fingerprint, from: TestPKI.c.id)
            let cFrames = try #require(await c.framesUntilClosed(timeout: .seconds(1)))
            #expect(errorFrame(cFrames.last)?.code == .certificateNotRegistered)
        }
    }

    @Test func clientCannotExceedTheUploadWindow() async throws {
        var limits = ProtocolLimits.default
        limits.initialWindowSize = 16 << 10
        try await withServer(limits: limits) { server in

            // A well-behaved client sends 100 KB through a 16 KiB window, waiting for WINDOW_UPDATE.
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let payload = payloadBytes(100_000)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            try await a.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
            #expect(await a.next() == .ready(.init(requestID: 1, offset: 0)))
            var window = FlowControlWindow(initial: limits.initialWindowSize)
            var offset = 0
            var updates = 0
            while offset < payload.count {
                let n = min(4096, payload.count - offset)
                while window.available < UInt32(n) {
                    guard case .windowUpdate(let u) = await a.next() else { Issue.record("expected WINDOW_UPDATE"); return }
                    try window.grant(u.increment)
                    updates += 1
                }
                try window.consume(n)
                try await a.send(.chunk(.init(requestID: 1, offset: UInt64(offset), data: ByteBuffer(bytes: payload[offset..<offset + n]))))
                offset += n
            }
            let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: TestPKI.a.certificate, key: TestPKI.a.key)
            try await a.send(.sendEnd(.init(requestID: 1, signature: .single(cms: cms))))
            guard case .accepted = await a.nextSignificant() else { Issue.record("no ACCEPTED"); return }
            #expect(updates > 0)

            // A client that overruns the window is cut off.
            let greedy = try await server.session(TestPKI.a)
            let envelope2 = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            try await greedy.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope2)))
            #expect(await greedy.next() == .ready(.init(requestID: 1, offset: 0)))
            try await greedy.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload[0..<(20 << 10)]))))
            let frames = try #require(await greedy.framesUntilClosed())
            #expect(errorFrame(frames.last)?.code == .flowControlViolation)
        }
    }

    @Test func helloTimeoutAndHeartbeatTimeoutClose() async throws {
        try await withServer(configure: { $0.helloTimeoutMillis = 300 }) { server in
            let silent = try await server.connect(TestPKI.a)
            #expect(errorFrame(try #require(await silent.framesUntilClosed()).last)?.code == .handshakeTimeout)
        }
        var limits = ProtocolLimits.default
        limits.heartbeatIntervalMillis = 150
        try await withServer(limits: limits) { server in
            // The client never answers: the broker PINGs after 2 intervals and gives up after 3.
            let idle = try await server.session(TestPKI.a)
            let frames = try #require(await idle.framesUntilClosed())
            #expect(frames.contains { if case .ping = $0 { return true } else { return false } })
            #expect(errorFrame(frames.last)?.code == .heartbeatTimeout)
        }
    }

    @Test func gracefulShutdownSendsGoAwayAndFinishesTheUpload() async throws {
        let server = try await ServerFixture.start()
        let a = try await server.session(TestPKI.a)
        let payload = payloadBytes(1000)
        let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
        try await a.send(.sendBegin(.init(requestID: 3, signatureForm: .single, envelope: envelope)))
        #expect(await a.nextSignificant() == .ready(.init(requestID: 3, offset: 0)))

        let stopping = Task { await server.stop() }
        guard case .goAway(let goAway) = await a.nextSignificant() else {
            Issue.record("no GOAWAY")
            return
        }
        #expect(goAway.code == .shuttingDown && goAway.lastRequestID == 3)
        // The open upload may still finish.
        try await a.send(.chunk(.init(requestID: 3, offset: 0, data: ByteBuffer(bytes: payload))))
        let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: TestPKI.a.certificate, key: TestPKI.a.key)
        try await a.send(.sendEnd(.init(requestID: 3, signature: .single(cms: cms))))
        let rest = try #require(await a.framesUntilClosed(timeout: .seconds(5)))
        #expect(rest.contains { if case .accepted = $0 { return true } else { return false } })
        await stopping.value
    }

    @Test func largePayloadIsStreamedFromTheBlobInChunks() async throws {
        try await withServer(maxInline: 16 << 10) { server in
            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            defer { a.close(); b.close() }
            let payload = payloadBytes(700_000, seed: 11)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted = try await a.upload(requestID: 1, envelope: envelope, payload: payload, chunkSize: 200_000) else {
                Issue.record("no ACCEPTED")
                return
            }
            try await b.send(.fetch(.init(requestID: 2, maxMessages: 1)))
            guard case .deliverBegin = await b.nextSignificant() else { Issue.record("no DELIVER_BEGIN"); return }
            var received: [UInt8] = []
            var chunks = 0
            while case .deliverChunk(let c) = await b.nextSignificant() {
                #expect(c.data.readableBytes <= Int(ProtocolLimits.default.maxChunkSize))
                received += Array(c.data.readableBytesView)
                chunks += 1
                if received.count == payload.count { break }
            }
            #expect(sameBytes(received, payload))
            #expect(chunks >= 3)
            guard case .deliverEnd = await b.nextSignificant() else { Issue.record("no DELIVER_END"); return }
            #expect(await b.nextSignificant() == .fetchDone(.init(requestID: 2, delivered: 1, moreAvailable: false)))
        }
    }

    @Test func nackRedeliversAndLeasesBelongToTheirConnection() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            let b2 = try await server.session(TestPKI.b)
            defer { a.close(); b.close(); b2.close() }
            let payload = payloadBytes(3000)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted(let accepted) = try await a.upload(requestID: 1, envelope: envelope, payload: payload) else {
                Issue.record("no ACCEPTED")
                return
            }
            try await b.send(.fetch(.init(requestID: 1, maxMessages: 1)))
            let first = try #require(await b.receiveDelivery())
            #expect(first.begin.storedEnvelope.messageID == accepted.receipt.receipt.messageID)
            #expect(await b.nextSignificant() == .fetchDone(.init(requestID: 1, delivered: 1, moreAvailable: false)))

            // ACK on another connection of the same participant: the lease is not there.
            let statement = AcknowledgementStatement(
                messageID: accepted.receipt.receipt.messageID,
                envelopeDigest: accepted.receipt.receipt.envelopeDigest,
                sender: try ParticipantID(TestPKI.a.id), recipient: try ParticipantID(TestPKI.b.id),
                timestampMillis: 1)
            let sig = try CMS.signDetached(statement.canonicalBytes, certificate: TestPKI.b.certificate, key: TestPKI.b.key)
            try await b2.send(.ack(.init(requestID: 2, statement: statement, signature: sig)))
            #expect(errorFrame(await b2.nextSignificant())?.code == .unknownMessage)

            // NACK with no delay: the next FETCH delivers it again.
            try await b.send(.nack(.init(requestID: 2, messageID: accepted.receipt.receipt.messageID, retryAfterMillis: 0)))
            try await b.send(.fetch(.init(requestID: 3, maxMessages: 1)))
            let again = try #require(await b.receiveDelivery())
            #expect(again.begin.storedEnvelope.messageID == accepted.receipt.receipt.messageID)
            #expect(sameBytes(again.payload, payload))
        }
    }

    @Test func fetchResumesAnInterruptedDeliveryAtTheClientsOffset() async throws {
        try await withServer { server in
            let a = try await server.session(TestPKI.a)
            defer { a.close() }
            let payload = payloadBytes(5000, seed: 5)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted(let accepted) = try await a.upload(requestID: 1, envelope: envelope, payload: payload) else {
                Issue.record("no ACCEPTED")
                return
            }
            let id = accepted.receipt.receipt.messageID
            // The first connection receives the message and goes away without acknowledging it.
            let lost = try await server.session(TestPKI.b)
            try await lost.send(.fetch(.init(requestID: 1, maxMessages: 1)))
            _ = try #require(await lost.receiveDelivery())
            lost.close()
            // Bounded wait until the broker has released the lease of the closed connection.
            let b = try await server.session(TestPKI.b)
            defer { b.close() }
            var resumed: (begin: Frame.DeliverBegin, payload: [UInt8])?
            for attempt in 1...200 {
                try await b.send(
                    .fetch(
                        .init(
                            requestID: UInt32(10 + attempt), maxMessages: 1,
                            resume: .init(messageID: id, offset: 1200))))
                if case .deliverBegin(let begin) = await b.nextSignificant() {
                    resumed = await b.receiveDelivery(after: begin)
                    _ = await b.nextSignificant()  // FETCH_DONE
                    break
                }
                // That was FETCH_DONE(0): the lease was not released yet.
                try await Task.sleep(for: .milliseconds(20))
            }
            let delivery = try #require(resumed)
            #expect(delivery.begin.offset == 1200)
            #expect(sameBytes(delivery.payload, Array(payload[1200...])))
        }
    }

    @Test func manyMessagesArePushedOnceEachAndAcknowledged() async throws {
        try await withServer(configure: { $0.pushBatch = 4 }) { server in
            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            defer { a.close(); b.close() }
            try await b.send(.subscribe(.init(requestID: 1, topics: .deliveries, credits: 10)))
            let count = 30
            var sent: Set<MessageID> = []
            for i in 0..<count {
                let payload = payloadBytes(100 + i, seed: UInt8(i))
                let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload, clientID: "bulk-\(i)")
                guard case .accepted(let r) = try await a.upload(requestID: UInt32(i + 1), envelope: envelope, payload: payload) else {
                    Issue.record("message \(i) not accepted")
                    return
                }
                sent.insert(r.receipt.receipt.messageID)
            }
            // Answers to ACKs (RECEIPT) may come between the frames of a delivery; deliveries never interleave.
            var received: [MessageID] = []
            var acknowledged = 0
            var current: Frame.DeliverBegin?
            var requestID: UInt32 = 100
            while received.count < count || acknowledged < count, let f = await b.nextSignificant() {
                switch f {
                case .deliverBegin(let begin):
                    #expect(current == nil, "a delivery began inside another")
                    current = begin
                case .deliverChunk(let chunk):
                    #expect(chunk.messageID == current?.storedEnvelope.messageID)
                case .deliverEnd(let end):
                    let begin = try #require(current)
                    #expect(end.messageID == begin.storedEnvelope.messageID)
                    current = nil
                    received.append(end.messageID)
                    let statement = AcknowledgementStatement(
                        messageID: end.messageID,
                        envelopeDigest: try SHA256Digest(bytes: SHA256.hash(begin.storedEnvelope.envelope.canonicalBytes)),
                        sender: try ParticipantID(TestPKI.a.id), recipient: try ParticipantID(TestPKI.b.id), timestampMillis: 1)
                    let sig = try CMS.signDetached(statement.canonicalBytes, certificate: TestPKI.b.certificate, key: TestPKI.b.key)
                    requestID += 1
                    try await b.send(.ack(.init(requestID: requestID, statement: statement, signature: sig)))
                    // Every delivery spent a credit; give it back.
                    try await b.send(.credit(.init(requestID: 1, credits: 1)))
                case .receipt(let r):
                    #expect(r.receipt.receipt.kind == .acknowledged)
                    acknowledged += 1
                default:
                    Issue.record("unexpected \(f.type)")
                }
            }
            // Each message exactly once, and every ACK was answered with an acknowledged receipt.
            #expect(received.count == count)
            #expect(Set(received) == sent)
            #expect(acknowledged == count)
        }
    }

    @Test func anInterruptedUploadResumesOnANewConnection() async throws {
        try await withServer(maxInline: 8 << 10) { server in
            let payload = payloadBytes(60_000, seed: 9)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload, clientID: "resume-1")
            let first = try await server.session(TestPKI.a)
            try await first.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
            #expect(await first.nextSignificant() == .ready(.init(requestID: 1, offset: 0)))
            try await first.send(.chunk(.init(requestID: 1, offset: 0, data: ByteBuffer(bytes: payload[0..<20_000]))))
            // Wait until the broker stored the chunk (its WINDOW_UPDATE), then lose the connection.
            guard case .windowUpdate = await first.next() else { Issue.record("no WINDOW_UPDATE"); return }
            first.close()

            let second = try await server.session(TestPKI.a)
            defer { second.close() }
            var offset: UInt64 = 0
            for attempt in 1...200 {
                // The old connection's lane parks the upload when it notices the close: bounded retry.
                try await second.send(.sendBegin(.init(requestID: UInt32(10 + attempt), signatureForm: .single, envelope: envelope)))
                guard case .ready(let ready) = await second.nextSignificant() else { Issue.record("no READY"); return }
                if ready.offset > 0 {
                    offset = ready.offset
                    try await second.send(
                        .chunk(
                            .init(
                                requestID: ready.requestID, offset: offset,
                                data: ByteBuffer(bytes: payload[Int(offset)...]))))
                    let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: TestPKI.a.certificate, key: TestPKI.a.key)
                    try await second.send(.sendEnd(.init(requestID: ready.requestID, signature: .single(cms: cms))))
                    break
                }
                // Not parked yet: give this fresh upload up and try again.
                try await second.send(.error(.init(requestID: ready.requestID, code: .internalError, message: "retry")))
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(offset == 20_000)
            guard case .accepted = await second.nextSignificant() else { Issue.record("resumed upload not accepted"); return }

            let b = try await server.session(TestPKI.b)
            defer { b.close() }
            try await b.send(.fetch(.init(requestID: 1, maxMessages: 1)))
            let delivery = try #require(await b.receiveDelivery())
            #expect(sameBytes(delivery.payload, payload))
        }
    }
}
