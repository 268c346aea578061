import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore
import Synchronization
import Testing
@testable import KlammerClient
import KlammerTestSupport

/// `klammer receive --ack` (SPEC.md §5.10, §13): the message directory is durable — every file, the staging directory,
/// the rename and the output directory fsynced — before the ACK is sent; and a redelivered copy never replaces a
/// stored copy that verifies.
@Suite struct DurableReceiveTests {
    /// Everything that happened, in order: durable steps and frames the client wrote.
    final class EventLog: Sendable {
        enum Event: Sendable, Hashable {
            case step(DurableSync.Step)
            case frame(String)
        }
        private let events = Mutex<[Event]>([])
        func append(_ event: Event) { events.withLock { $0.append(event) } }
        var all: [Event] { events.withLock { $0 } }
    }

    /// A client past WELCOME whose written frames go to `tap` and are also logged (ACKs by name).
    static func connected(_ credentials: ClientCredentials, log: EventLog) async throws -> (KlammerClient, FrameTap) {
        let client = KlammerClient(credentials: credentials)
        let tap = FrameTap()
        let inner = tap.writer
        await client.start(
            writer: FrameWriter(
                write: { frame in
                    if case .ack = frame { log.append(.frame("ACK")) }
                    try await inner.write(frame)
                }, close: inner.close))
        guard case .hello = try await tap.next() else { throw KlammerClientError(.protocolViolation, "no HELLO") }
        var limits = ProtocolLimits()
        limits.heartbeatIntervalMillis = 0
        await client.handle(
            .welcome(
                Frame.Welcome(participant: credentials.participantID!, brokerID: FakeBrokerTests.broker, limits: limits, agent: "fake")))
        return (client, tap)
    }

    /// Delivers one message over a FETCH and returns it as the client verified it.
    static func deliver(
        _ prepared: PreparedMessage, sender: ClientCredentials, payload: [UInt8], to client: KlammerClient,
        tap: FrameTap, id: MessageID = .random()
    ) async throws -> ReceivedMessage {
        let stream = try await client.fetch(max: 1, options: ReceiveOptions())
        guard case .fetch(let fetch) = try await tap.next() else { throw KlammerClientError(.protocolViolation, "no FETCH") }
        let stored = StoredEnvelope(messageID: id, acceptedAtMillis: prepared.envelope.createdAtMillis, envelope: prepared.envelope)
        await client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID, storedEnvelope: stored, senderSignature: prepared.signature,
                    senderCertificate: sender.certificate.derBytes)))
        await client.handle(
            .deliverChunk(Frame.DeliverChunk(requestID: fetch.requestID, messageID: id, offset: 0, data: ByteBuffer(bytes: payload))))
        await client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: id)))
        await client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 1, moreAvailable: false)))
        var messages: [ReceivedMessage] = []
        for try await event in stream { if case .message(let m) = event { messages.append(m) } }
        guard messages.count == 1 else { throw KlammerClientError(.protocolViolation, "expected one message, got \(messages.count)") }
        return messages[0]
    }

    @Test func receiveWithAckSyncsFilesRenameAndDirectoryBeforeTheACKIsSent() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let out = try TempDir()
        let log = EventLog()
        let (client, tap) = try await Self.connected(rostock.credentials, log: log)
        let payload = Array("Bauantrag".utf8)
        let prepared = try PreparedMessage.prepare(
            credentials: schwerin.credentials, recipients: [FakeBrokerTests.rostock], payload: .bytes(payload))
        let message = try await Self.deliver(prepared, sender: schwerin.credentials, payload: payload, to: client, tap: tap)
        #expect(message.isVerified)

        let intake = MessageIntake(outDirectory: out.path, acknowledge: true, sync: DurableSync { log.append(.step($0)) })
        async let outcome = intake.handle(message, client: client)
        guard case .statusRequest(let status) = try await tap.next() else { Issue.record("no STATUS_REQUEST"); return }
        await client.handle(.routingSlip(Frame.RoutingSlip(requestID: status.requestID, messageID: message.messageID, receipts: [])))
        guard case .ack(let ack) = try await tap.next() else { Issue.record("no ACK"); return }
        let receipt = try SignedReceipt(
            receipt: Receipt(
                kind: .acknowledged, messageID: message.messageID, envelopeDigest: prepared.envelopeDigest,
                sender: prepared.envelope.sender,
                recipient: FakeBrokerTests.rostock, timestampMillis: 9, brokerID: FakeBrokerTests.broker, reason: nil),
            brokerSignature: [0x30, 0x00], acknowledgement: .init(statement: ack.statement, signature: ack.signature))
        await client.handle(.receipt(Frame.ReceiptEvent(requestID: ack.requestID, receipt: receipt)))
        let result = try await outcome
        #expect(result.acknowledged)

        let events = log.all
        let ackIndex = try #require(events.firstIndex(of: .frame("ACK")))
        let beforeACK = Set(events[..<ackIndex])
        let final = out.file(message.messageID.hex)
        let staging = out.file(".\(message.messageID.hex).partial")
        // Every file of the message directory (receipts are written after the ACK) was fsynced before the ACK …
        for name in ["payload", "envelope.bin", "envelope.json", "signature.p7s", "signature.bin", "sender.pem"] {
            #expect(beforeACK.contains(.step(.fileSynced(staging + "/" + name))), "\(name) not fsynced before the ACK")
        }
        // … then the staging directory, then the rename into place, then the output directory.
        let stagingSynced = try #require(events.firstIndex(of: .step(.directorySynced(staging))))
        let renamed = try #require(events.firstIndex(of: .step(.renamed(from: staging, to: final))))
        let outSynced = try #require(events[renamed...].firstIndex(of: .step(.directorySynced(out.path))))
        #expect(stagingSynced < renamed)
        #expect(renamed < outSynced)
        #expect(outSynced < ackIndex, "the ACK was sent before the output directory was fsynced")
        #expect(try MessageDirectory.verify(final, trustStore: pki.trustStore).receipts == nil)
        await client.close()
    }

    @Test func aFailedFsyncMeansNoACK() async throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let out = try TempDir()
        let log = EventLog()
        let (client, tap) = try await Self.connected(rostock.credentials, log: log)
        let payload = Array("Bauantrag".utf8)
        let prepared = try PreparedMessage.prepare(
            credentials: schwerin.credentials, recipients: [FakeBrokerTests.rostock], payload: .bytes(payload))
        let message = try await Self.deliver(prepared, sender: schwerin.credentials, payload: payload, to: client, tap: tap)

        struct InjectedFault: Error {}
        let outPath = out.path
        let intake = MessageIntake(
            outDirectory: out.path, acknowledge: true,
            sync: DurableSync { step in
                log.append(.step(step))
                if step == .directorySynced(outPath) { throw InjectedFault() }
            })
        // Bounded: were the fault ignored, the intake would wait for a STATUS answer; the watchdog then fails the
        // connection so the test ends (and fails) instead of hanging.
        let watchdog = Task {
            try await Task.sleep(for: .seconds(20))
            await client.handle(.error(Frame.ErrorFrame(requestID: 0, code: .shuttingDown, message: "test watchdog")))
        }
        defer { watchdog.cancel() }
        await #expect { _ = try await intake.handle(message, client: client) } throws: { error in
            (error as? KlammerClientError)?.kind == .fileError
        }
        #expect(!log.all.contains(.frame("ACK")))
        #expect(!tap.pending.contains { if case .ack = $0 { true } else { false } })
        await client.close()
    }

    @Test func aRedeliveredCopyNeverReplacesTheVerifiedOne() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let original = try MessageSigningTests.receivedMessage(pki: pki, payload: Array("original".utf8))
        let first = try MessageDirectory.store(original, into: out.path, trustStore: pki.trustStore)
        #expect(!first.keptEarlierCopy)
        let final = first.directory
        func inode(_ name: String) throws -> UInt64 {
            try (FileManager.default.attributesOfItem(atPath: final + "/" + name)[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        }
        let inodeBefore = try inode("envelope.bin")

        // The same message again, verified: the stored copy stays (same files), the new one is discarded.
        let again = try MessageDirectory.store(original, into: out.path, trustStore: pki.trustStore)
        #expect(again == MessageDirectory.Placement(directory: final, keptEarlierCopy: true))
        #expect(try inode("envelope.bin") == inodeBefore)

        // A tampered redelivery (payload altered, so it did not verify): never replaces the verified copy; it is kept
        // as evidence next to it.
        let altered = Array("altered!".utf8)
        let (length, digest) = try PayloadSource.bytes(altered).measure()
        let tampered = ReceivedMessage(
            stored: original.stored, signature: original.signature, senderCertificateDER: original.senderCertificateDER,
            payload: .bytes(altered), payloadDigest: digest, payloadLength: length,
            verificationError: KlammerClientError(.verificationFailed, "payload altered"))
        let evidence = try MessageDirectory.store(tampered, into: out.path, trustStore: pki.trustStore)
        #expect(evidence == MessageDirectory.Placement(directory: final + ".unverified", keptEarlierCopy: true))
        #expect(try Data(contentsOf: URL(fileURLWithPath: final + "/payload")) == Data("original".utf8))
        #expect(try inode("envelope.bin") == inodeBefore)
        _ = try MessageDirectory.verify(final, trustStore: pki.trustStore)
        #expect(try Data(contentsOf: URL(fileURLWithPath: final + ".unverified/payload")) == Data(altered))

        // An earlier copy that does not verify (damaged on disk) is replaced by a verified one.
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: final + "/payload"))
        let repaired = try MessageDirectory.store(original, into: out.path, trustStore: pki.trustStore)
        #expect(!repaired.keptEarlierCopy)
        _ = try MessageDirectory.verify(final, trustStore: pki.trustStore)
    }
}
