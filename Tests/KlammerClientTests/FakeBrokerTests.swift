import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore
import Synchronization
import Testing
@testable import KlammerClient
import KlammerTestSupport

/// Collects the frames the client writes; the test plays the broker by feeding frames to `client.handle`.
final class FrameTap: Sendable {
    private let frames = Mutex<[Frame]>([])
    private let closed = Mutex(false)

    var writer: FrameWriter {
        FrameWriter(write: { [self] frame in frames.withLock { $0.append(frame) } }, close: { [self] in closed.withLock { $0 = true } })
    }

    var isClosed: Bool { closed.withLock { $0 } }

    /// Waits (bounded) for the next written frame.
    func next(timeout: Duration = .seconds(20)) async throws -> Frame {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let frame = frames.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return frame }
            try await Task.sleep(for: .milliseconds(2))
        }
        throw KlammerClientError(.timeout, "the client wrote no frame within \(timeout)")
    }

    /// Waits (bounded) until the client closed the transport.
    func waitClosed(timeout: Duration = .seconds(20)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !isClosed { try? await Task.sleep(for: .milliseconds(2)) }
        return isClosed
    }

    /// Frames written so far and not yet taken.
    var pending: [Frame] { frames.withLock { $0 } }
}

@Suite struct FakeBrokerTests {
    static let broker = try! ParticipantID("broker:fake")
    static let rostock = try! ParticipantID("ags:13003000")

    /// A client past HELLO/WELCOME with the given upload window and chunk size.
    static func connected(_ credentials: ClientCredentials, window: UInt32 = 4 << 20, maxChunk: UInt32 = 256 << 10) async throws -> (
        KlammerClient, FrameTap
    ) {
        let client = KlammerClient(credentials: credentials)
        let tap = FrameTap()
        await client.start(writer: tap.writer)
        guard case .hello(let hello) = try await tap.next() else { throw KlammerClientError(.protocolViolation, "no HELLO") }
        #expect(hello.minVersion == 1 && hello.maxVersion == 1)
        var limits = ProtocolLimits()
        limits.initialWindowSize = window
        limits.maxChunkSize = maxChunk
        limits.heartbeatIntervalMillis = 0
        await client.handle(
            .welcome(Frame.Welcome(participant: credentials.participantID!, brokerID: broker, limits: limits, agent: "fake")))
        #expect(await client.phase == .open)
        return (client, tap)
    }

    static func acceptedReceipt(for prepared: PreparedMessage, id: MessageID = .random()) throws -> SignedReceipt {
        try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: id, envelopeDigest: prepared.envelopeDigest,
                sender: prepared.envelope.sender, recipient: nil, timestampMillis: 5, brokerID: broker, reason: nil),
            brokerSignature: [0x30, 0x00])
    }

    @Test func uploadNeverExceedsTheWindowAndWaitsForWindowUpdates() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials, window: 10, maxChunk: 8)
        let payload = (0..<25).map { UInt8($0) }
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes(payload))
        async let sent = client.send(prepared)

        guard case .sendBegin(let begin) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        #expect(begin.envelope == prepared.envelope)
        #expect(begin.signatureForm == .single)
        await client.handle(.ready(Frame.Ready(requestID: begin.requestID, offset: 0)))

        var received: [UInt8] = []
        func takeChunk() async throws -> Frame.Chunk {
            guard case .chunk(let c) = try await tap.next() else { throw KlammerClientError(.protocolViolation, "expected CHUNK") }
            #expect(c.requestID == begin.requestID)
            #expect(c.offset == UInt64(received.count))
            received += Array(c.data.readableBytesView)
            return c
        }
        // Window 10, chunk limit 8: 8 + 2 bytes, then nothing until the broker grants more.
        #expect(try await takeChunk().data.readableBytes == 8)
        #expect(try await takeChunk().data.readableBytes == 2)
        // Event, not a pause: once the upload is parked waiting for WINDOW_UPDATE it has written everything it was
        // going to write without one (frames reach the tap synchronously), so nothing may be pending.
        let parked = ContinuousClock.now + .seconds(20)
        while await client.windowWaiters.isEmpty, ContinuousClock.now < parked { try await Task.sleep(for: .milliseconds(1)) }
        #expect(await client.windowWaiters.count == 1, "the upload is not waiting for window")
        #expect(tap.pending.isEmpty)
        await client.handle(.windowUpdate(Frame.WindowUpdate(increment: 20)))
        while received.count < 25 { _ = try await takeChunk() }
        guard case .sendEnd(let end) = try await tap.next() else { Issue.record("no SEND_END"); return }
        #expect(end.signature == prepared.signature)
        #expect(received == payload)

        let receipt = try Self.acceptedReceipt(for: prepared)
        await client.handle(.accepted(Frame.Accepted(requestID: begin.requestID, receipt: receipt)))
        #expect(try await sent == receipt)
    }

    @Test func duplicateIsAnsweredWithoutUploadAndResumeStartsAtTheOffset() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials)
        let payload = Array("0123456789".utf8)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes(payload))
        let receipt = try Self.acceptedReceipt(for: prepared)

        async let duplicate = client.send(prepared)
        guard case .sendBegin(let begin) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        await client.handle(.accepted(Frame.Accepted(requestID: begin.requestID, receipt: receipt)))
        #expect(try await duplicate == receipt)
        #expect(tap.pending.isEmpty)

        async let resumed = client.send(prepared)
        guard case .sendBegin(let again) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        #expect(again.requestID != begin.requestID)
        await client.handle(.ready(Frame.Ready(requestID: again.requestID, offset: 6)))
        guard case .chunk(let chunk) = try await tap.next() else { Issue.record("no CHUNK"); return }
        #expect(chunk.offset == 6)
        #expect(Array(chunk.data.readableBytesView) == Array("6789".utf8))
        guard case .sendEnd = try await tap.next() else { Issue.record("no SEND_END"); return }
        await client.handle(.accepted(Frame.Accepted(requestID: again.requestID, receipt: receipt)))
        #expect(try await resumed == receipt)
    }

    @Test func brokerRefusalCarriesTheCodeAndTheConnectionStaysUsable() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([1]))
        let refused = Task { try await client.send(prepared) }
        guard case .sendBegin(let begin) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        await client.handle(
            .error(Frame.ErrorFrame(requestID: begin.requestID, code: .unknownRecipient, message: "ags:13003000 is not registered")))
        await #expect { try await refused.value } throws: { error in
            let e = error as? KlammerClientError
            return e?.code == .unknownRecipient && e?.name == "UNKNOWN_RECIPIENT" && e?.message.contains("check the recipient id") == true
        }
        #expect(await client.phase == .open)

        // A receipt for another envelope is not accepted as confirmation.
        let wrong = Task { try await client.send(prepared) }
        guard case .sendBegin(let second) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        let other = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([2]))
        await client.handle(.accepted(Frame.Accepted(requestID: second.requestID, receipt: try Self.acceptedReceipt(for: other))))
        await #expect(throws: KlammerClientError.self) { try await wrong.value }
    }

    @Test func connectionErrorFailsEverythingInFlight() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials)
        let status = Task { try await client.status(.random()) }
        guard case .statusRequest = try await tap.next() else { Issue.record("no STATUS_REQUEST"); return }
        await client.handle(.error(Frame.ErrorFrame(requestID: 0, code: .shuttingDown, message: "maintenance")))
        await #expect { try await status.value } throws: { error in (error as? KlammerClientError)?.code == .shuttingDown }
        #expect(await tap.waitClosed())
        await #expect(throws: KlammerClientError.self) { try await client.fetch() }
    }

    @Test func fetchVerifiesDeliveriesAndAcknowledgeSignsTheStatement() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await Self.connected(rostock.credentials)
        let payload = Array("Vorlage".utf8)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes(payload))
        let messageID = MessageID.random()
        let progress = ProgressRecorder()
        let stream = try await client.fetch(
            max: 5, options: ReceiveOptions(progress: { _, received, total in progress.record(received, total) }))
        guard case .fetch(let fetch) = try await tap.next() else { Issue.record("no FETCH"); return }
        #expect(fetch.maxMessages == 5)
        #expect(fetch.resume == nil)

        let stored = StoredEnvelope(
            messageID: messageID, acceptedAtMillis: prepared.envelope.createdAtMillis + 7, envelope: prepared.envelope)
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID, storedEnvelope: stored, senderSignature: prepared.signature,
                    senderCertificate: schwerin.credentials.certificate.derBytes)))
        await client.handle(
            .deliverChunk(
                Frame.DeliverChunk(requestID: fetch.requestID, messageID: messageID, offset: 0, data: ByteBuffer(bytes: payload[0..<3]))))
        await client.handle(
            .deliverChunk(
                Frame.DeliverChunk(requestID: fetch.requestID, messageID: messageID, offset: 3, data: ByteBuffer(bytes: payload[3...]))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: messageID)))
        // A second message whose payload was altered in transit.
        let tampered = MessageID.random()
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID,
                    storedEnvelope: StoredEnvelope(
                        messageID: tampered, acceptedAtMillis: prepared.envelope.createdAtMillis + 8, envelope: prepared.envelope),
                    senderSignature: prepared.signature, senderCertificate: schwerin.credentials.certificate.derBytes)))
        await client.handle(
            .deliverChunk(
                Frame.DeliverChunk(
                    requestID: fetch.requestID, messageID: tampered, offset: 0, data: ByteBuffer(bytes: Array("VORLAGE".utf8)))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: tampered)))
        await client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 2, moreAvailable: false)))

        var messages: [ReceivedMessage] = []
        var done: (Int, Bool)?
        for try await event in stream {
            switch event {
            case .message(let m): messages.append(m)
            case .done(let delivered, let more): done = (delivered, more)
            }
        }
        #expect(done?.0 == 2 && done?.1 == false)
        #expect(progress.count == 3)  // two chunks, then one
        #expect(progress.last?.0 == UInt64(payload.count) && progress.last?.1 == UInt64(payload.count))
        try #require(messages.count == 2)
        #expect(messages[0].isVerified)
        #expect(messages[0].payload == .bytes(payload))
        #expect(messages[0].senderCertificate == schwerin.credentials.certificate)
        #expect(messages[1].verificationError?.message.contains("altered") == true)

        // An unverified message is never acknowledged.
        await #expect(throws: KlammerClientError.self) { try await client.acknowledge(messages[1]) }

        async let acknowledged = client.acknowledge(messages[0])
        guard case .ack(let ack) = try await tap.next() else { Issue.record("no ACK"); return }
        #expect(ack.statement.messageID == messageID)
        #expect(ack.statement.recipient == Self.rostock)
        #expect(ack.statement.sender == prepared.envelope.sender)
        #expect(ack.statement.envelopeDigest == prepared.envelopeDigest)
        try CMS.verifyDetached(signature: ack.signature, content: ack.statement.canonicalBytes, signer: rostock.credentials.certificate)
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .acknowledged, messageID: messageID, envelopeDigest: prepared.envelopeDigest, sender: prepared.envelope.sender,
                recipient: Self.rostock, timestampMillis: 9, brokerID: Self.broker, reason: nil),
            brokerSignature: [0x30, 0x00], acknowledgement: .init(statement: ack.statement, signature: ack.signature))
        await client.handle(.receipt(Frame.ReceiptEvent(requestID: ack.requestID, receipt: receipt)))
        #expect(try await acknowledged == receipt)
    }

    @Test func tooLargeForMemoryIsNackedAndReported() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await Self.connected(rostock.credentials)
        let payload = [UInt8](repeating: 7, count: 100)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes(payload))
        let stream = try await client.fetch(max: 1, options: ReceiveOptions(payloadStorage: .memory(maxBytes: 50)))
        guard case .fetch(let fetch) = try await tap.next() else { Issue.record("no FETCH"); return }
        let id = MessageID.random()
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID,
                    storedEnvelope: StoredEnvelope(
                        messageID: id, acceptedAtMillis: prepared.envelope.createdAtMillis + 1, envelope: prepared.envelope),
                    senderSignature: prepared.signature, senderCertificate: schwerin.credentials.certificate.derBytes)))
        await client.handle(
            .deliverChunk(Frame.DeliverChunk(requestID: fetch.requestID, messageID: id, offset: 0, data: ByteBuffer(bytes: payload))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: id)))
        guard case .nack(let nack) = try await tap.next() else { Issue.record("no NACK"); return }
        #expect(nack.messageID == id)
        await #expect { for try await _ in stream {} } throws: { error in
            (error as? KlammerClientError)?.message.contains("in-memory limit") == true
        }
        await client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 1, moreAvailable: false)))
        #expect(await client.phase == .open)
    }

    @Test func closeSendsGoAwayAndWaitsForOpenRequests() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials)
        let messageID = MessageID.random()
        async let status = client.status(messageID)
        guard case .statusRequest(let request) = try await tap.next() else { Issue.record("no STATUS_REQUEST"); return }
        async let closing: Void = client.close()
        guard case .goAway(let goAway) = try await tap.next() else { Issue.record("no GOAWAY"); return }
        #expect(goAway.lastRequestID == request.requestID)
        #expect(!tap.isClosed)
        await client.handle(.routingSlip(Frame.RoutingSlip(requestID: request.requestID, messageID: messageID, receipts: [])))
        #expect(try await status.isEmpty)
        await closing
        #expect(await tap.waitClosed())
    }

    @Test func heartbeatPingsAfterTwoSilentIntervalsAndGivesUpAfterThree() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let client = KlammerClient(credentials: schwerin.credentials)
        let tap = FrameTap()
        await client.start(writer: tap.writer)
        _ = try await tap.next()  // HELLO
        var limits = ProtocolLimits()
        limits.heartbeatIntervalMillis = 40
        await client.handle(
            .welcome(Frame.Welcome(participant: schwerin.credentials.participantID!, brokerID: Self.broker, limits: limits, agent: "fake")))
        // Timer ticks are not exact: at least one PING (2 silent intervals), then ERROR (3), nothing else.
        guard case .ping = try await tap.next() else { Issue.record("no PING"); return }
        var frame = try await tap.next()
        for _ in 0..<3 { if case .ping = frame { frame = try await tap.next() } }
        guard case .error(let error) = frame else { Issue.record("no ERROR but \(frame)"); return }
        #expect(error.code == .heartbeatTimeout)
        #expect(error.requestID == 0)
        #expect(await tap.waitClosed())
        await #expect { try await client.status(.random()) } throws: { e in (e as? KlammerClientError)?.code == .heartbeatTimeout }
    }

    @Test func batchFormSignaturesVerifyOnlineAndOffline() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await Self.connected(rostock.credentials)
        let payload = Array("Teil 2 von 3".utf8)
        let single = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes(payload))
        // A batch of 3 envelopes; ours is leaf 2, whose proof is [N(L0, L1)] (SPEC.md §5.6).
        func leaf(_ d: SHA256Digest) -> SHA256Digest {
            try! SHA256Digest(bytes: SHA256.hash(BatchInclusionProof.leafInput(envelopeDigest: d)))
        }
        func node(_ l: SHA256Digest, _ r: SHA256Digest) -> SHA256Digest {
            try! SHA256Digest(bytes: SHA256.hash(BatchInclusionProof.nodeInput(left: l, right: r)))
        }
        let d0 = try SHA256Digest(bytes: SHA256.hash(Array("envelope 0".utf8))),
            d1 = try SHA256Digest(bytes: SHA256.hash(Array("envelope 1".utf8)))
        let n01 = node(leaf(d0), leaf(d1))
        let root = node(n01, leaf(single.envelopeDigest))
        let statement = try BatchRootStatement(leafCount: 3, root: root)
        let cms = try CMS.signDetached(
            statement.canonicalBytes, certificate: schwerin.credentials.certificate, key: schwerin.credentials.privateKey)
        let signature = SenderSignature.batch(try BatchInclusionProof(cms: cms, leafCount: 3, leafIndex: 2, path: [n01]))

        let stream = try await client.fetch(max: 1)
        guard case .fetch(let fetch) = try await tap.next() else { Issue.record("no FETCH"); return }
        let id = MessageID.random()
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID,
                    storedEnvelope: StoredEnvelope(
                        messageID: id, acceptedAtMillis: single.envelope.createdAtMillis + 1, envelope: single.envelope),
                    senderSignature: signature, senderCertificate: schwerin.credentials.certificate.derBytes)))
        await client.handle(
            .deliverChunk(Frame.DeliverChunk(requestID: fetch.requestID, messageID: id, offset: 0, data: ByteBuffer(bytes: payload))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: id)))
        await client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 1, moreAvailable: false)))
        var received: ReceivedMessage?
        for try await event in stream { if case .message(let m) = event { received = m } }
        let message = try #require(received)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")

        let out = try TempDir()
        let directory = try MessageDirectory.write(message, into: out.path)
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/batch-root.bin"))) == statement.canonicalBytes)
        #expect(try MessageDirectory.verify(directory, trustStore: pki.trustStore).form == .batch)
        let openssl = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/batch-root.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", pki.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")

        // A proof for another leaf position does not verify.
        let wrong = SenderSignature.batch(
            try BatchInclusionProof(cms: cms, leafCount: 3, leafIndex: 0, path: [leaf(d1), leaf(single.envelopeDigest)]))
        #expect(throws: KlammerClientError.self) {
            try MessageVerifier.verifySignature(
                envelope: single.envelope, signature: wrong, senderCertificate: schwerin.credentials.certificate, trustStore: pki.trustStore
            )
        }
    }

    @Test func abandonedFetchNacksTheRestOfItsDeliveries() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await Self.connected(rostock.credentials)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([1]))
        func deliver(_ requestID: UInt32, _ id: MessageID) async {
            await client.handle(
                .deliverBegin(
                    Frame.DeliverBegin(
                        requestID: requestID,
                        storedEnvelope: StoredEnvelope(
                            messageID: id, acceptedAtMillis: prepared.envelope.createdAtMillis + 1, envelope: prepared.envelope),
                        senderSignature: prepared.signature, senderCertificate: schwerin.credentials.certificate.derBytes)))
            await client.handle(
                .deliverChunk(Frame.DeliverChunk(requestID: requestID, messageID: id, offset: 0, data: ByteBuffer(bytes: [1]))))
            await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: requestID, messageID: id)))
        }
        let first = MessageID.random(), second = MessageID.random()
        var fetchID: UInt32 = 0
        do {
            // The stream is dropped at the end of this scope, as when an application stops reading.
            let stream = try await client.fetch(max: 2)
            guard case .fetch(let fetch) = try await tap.next() else { Issue.record("no FETCH"); return }
            fetchID = fetch.requestID
            await deliver(fetch.requestID, first)
            for try await event in stream {
                if case .message(let m) = event { #expect(m.messageID == first) }
                break
            }
        }
        let fetch = Frame.Fetch(requestID: fetchID, maxMessages: 2)
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline, await client.fetches[fetch.requestID]?.failed != true {
            try await Task.sleep(for: .milliseconds(2))
        }
        await deliver(fetch.requestID, second)
        guard case .nack(let nack) = try await tap.next() else { Issue.record("no NACK"); return }
        #expect(nack.messageID == second)
        await client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 2, moreAvailable: false)))
        #expect(await client.fetches.isEmpty)
    }

    @Test func payloadChangedAfterSigningAbortsTheUploadWithAnError() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let (client, tap) = try await Self.connected(schwerin.credentials)
        let file = pki.directory.file("doc.txt")
        try Data("the signed version".utf8).write(to: URL(fileURLWithPath: file))
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .file(file))
        try Data("shorter".utf8).write(to: URL(fileURLWithPath: file))
        let sending = Task { try await client.send(prepared) }
        guard case .sendBegin(let begin) = try await tap.next() else { Issue.record("no SEND_BEGIN"); return }
        await client.handle(.ready(Frame.Ready(requestID: begin.requestID, offset: 0)))
        guard case .chunk = try await tap.next() else { Issue.record("no CHUNK"); return }
        guard case .error(let error) = try await tap.next() else { Issue.record("no ERROR"); return }
        #expect(error.requestID == begin.requestID)
        #expect(error.code == .lengthMismatch)
        await #expect { try await sending.value } throws: { e in
            (e as? KlammerClientError)?.kind == .fileError && (e as? KlammerClientError)?.message.contains("changed after signing") == true
        }
        #expect(await client.phase == .open)
    }

    @Test func subscriptionGrantsOneCreditPerMessageTakenAndRoutesReceipts() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await Self.connected(rostock.credentials)
        let subscription = try await client.subscribe(credits: 2, receipts: true)
        guard case .subscribe(let subscribe) = try await tap.next() else { Issue.record("no SUBSCRIBE"); return }
        #expect(subscribe.credits == 2)
        #expect(subscribe.topics == .all)
        await #expect(throws: KlammerClientError.self) { try await client.subscribe() }  // one per connection

        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([5]))
        let id = MessageID.random()
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: subscribe.requestID,
                    storedEnvelope: StoredEnvelope(
                        messageID: id, acceptedAtMillis: prepared.envelope.createdAtMillis + 1, envelope: prepared.envelope),
                    senderSignature: prepared.signature, senderCertificate: schwerin.credentials.certificate.derBytes)))
        await client.handle(
            .deliverChunk(Frame.DeliverChunk(requestID: subscribe.requestID, messageID: id, offset: 0, data: ByteBuffer(bytes: [5]))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: subscribe.requestID, messageID: id)))
        #expect(tap.pending.isEmpty)  // no credit before the application took the message
        var messages = subscription.messages.makeAsyncIterator()
        let message = try #require(try await messages.next())
        #expect(message.messageID == id && message.isVerified)
        guard case .credit(let credit) = try await tap.next() else { Issue.record("no CREDIT"); return }
        #expect(credit.requestID == subscribe.requestID && credit.credits == 1)

        let receipt = try Self.acceptedReceipt(for: prepared)
        await client.handle(.receipt(Frame.ReceiptEvent(requestID: subscribe.requestID, receipt: receipt)))
        var receipts = subscription.receipts.makeAsyncIterator()
        #expect(await receipts.next() == receipt)
    }
}
