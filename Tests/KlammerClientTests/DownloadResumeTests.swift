import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore
import Testing
@testable import KlammerClient

/// The client side of download resume against a scripted broker (SPEC.md §4.8, §4.9).
@Suite struct DownloadResumeTests {
    static let rostockID = try! ParticipantID("ags:13003000")

    struct Setup {
        let client: KlammerClient
        let tap: FrameTap
        let prepared: PreparedMessage
        let certificate: [UInt8]
        let payload: [UInt8]
        let spool: TempDir
        let messageID: MessageID
    }

    /// A connected recipient, a signed 10-byte message and a spool holding its first 4 bytes as a part file.
    static func setup() async throws -> Setup {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let rostock = try pki.participant("ags:13003000")
        let (client, tap) = try await FakeBrokerTests.connected(rostock.credentials)
        let payload = Array("Bauantrag!".utf8)
        let prepared = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [rostockID], payload: .bytes(payload))
        let spool = try TempDir()
        let id = MessageID.random()
        try Data(payload[0..<4]).write(to: URL(fileURLWithPath: spool.file(id.hex + ".payload.part")))
        return Setup(
            client: client, tap: tap, prepared: prepared, certificate: schwerin.credentials.certificate.derBytes,
            payload: payload, spool: spool, messageID: id)
    }

    @Test func resumedDeliveryKeepsThePartFileAndVerifiesTheWholePayload() async throws {
        let s = try await Self.setup()
        let point = try #require(ReceiveOptions.resumePoint(in: s.spool.path))
        #expect(point == Frame.ResumePoint(messageID: s.messageID, offset: 4))
        let stream = try await s.client.fetch(max: 1, options: ReceiveOptions(payloadStorage: .directory(s.spool.path)), resume: point)
        guard case .fetch(let fetch) = try await s.tap.next() else { Issue.record("no FETCH"); return }
        #expect(fetch.resume == point)
        let stored = StoredEnvelope(
            messageID: s.messageID, acceptedAtMillis: s.prepared.envelope.createdAtMillis + 7, envelope: s.prepared.envelope)
        await s.client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID, storedEnvelope: stored, senderSignature: s.prepared.signature,
                    senderCertificate: s.certificate, offset: 4)))
        await s.client.handle(
            .deliverChunk(
                Frame.DeliverChunk(requestID: fetch.requestID, messageID: s.messageID, offset: 4, data: ByteBuffer(bytes: s.payload[4...])))
        )
        await s.client.handle(.deliverEnd(Frame.DeliverEnd(requestID: fetch.requestID, messageID: s.messageID)))
        await s.client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 1, moreAvailable: false)))
        var messages: [ReceivedMessage] = []
        for try await event in stream { if case .message(let m) = event { messages.append(m) } }
        let message = try #require(messages.first)
        #expect(message.resumedAt == 4)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")
        #expect(message.payload == .file(s.spool.file(s.messageID.hex + ".payload")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s.spool.file(s.messageID.hex + ".payload"))) == Data(s.payload))
        #expect(ReceiveOptions.resumePoint(in: s.spool.path) == nil)
    }

    @Test func deliveryAtAnOffsetThatWasNotRequestedIsAViolation() async throws {
        let s = try await Self.setup()
        _ = try await s.client.fetch(
            max: 1, options: ReceiveOptions(payloadStorage: .directory(s.spool.path)),
            resume: .init(messageID: s.messageID, offset: 4))
        guard case .fetch(let fetch) = try await s.tap.next() else { Issue.record("no FETCH"); return }
        let stored = StoredEnvelope(
            messageID: s.messageID, acceptedAtMillis: s.prepared.envelope.createdAtMillis + 7, envelope: s.prepared.envelope)
        await s.client.handle(
            .deliverBegin(
                Frame.DeliverBegin(
                    requestID: fetch.requestID, storedEnvelope: stored, senderSignature: s.prepared.signature,
                    senderCertificate: s.certificate, offset: 5)))
        guard case .error(let error) = try await s.tap.next() else { Issue.record("no ERROR"); return }
        #expect(error.requestID == 0 && error.code == .invalidValue)
        #expect(await s.tap.waitClosed())
    }

    @Test func partFileTheBrokerCouldNotResumeIsRemoved() async throws {
        let s = try await Self.setup()
        let stream = try await s.client.fetch(
            max: 1, options: ReceiveOptions(payloadStorage: .directory(s.spool.path)),
            resume: .init(messageID: s.messageID, offset: 4))
        guard case .fetch(let fetch) = try await s.tap.next() else { Issue.record("no FETCH"); return }
        await s.client.handle(.fetchDone(Frame.FetchDone(requestID: fetch.requestID, delivered: 0, moreAvailable: false)))
        for try await _ in stream {}
        #expect(ReceiveOptions.resumePoint(in: s.spool.path) == nil)
        #expect(!FileManager.default.fileExists(atPath: s.spool.file(s.messageID.hex + ".payload.part")))
    }

    @Test func memoryStorageCannotResume() async throws {
        let s = try await Self.setup()
        await #expect { _ = try await s.client.fetch(max: 1, resume: .init(messageID: s.messageID, offset: 4)) } throws: { error in
            (error as? KlammerClientError)?.kind == .invalidArgument
        }
    }
}
