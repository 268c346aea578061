import Foundation
import Testing
@testable import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// The routing slip is bounded by what the store allows, never by dropping evidence (issue 14, item 11). It used to
/// stop recording at 4096 receipts per message while still confirming the later ones, and a recipient could fill it by
/// bouncing a resume lease between two connections: each bounce recorded a `delivered` receipt and counted no
/// attempt, so another recipient's signed acknowledgement was answered but never written.
@Suite(.timeLimit(.minutes(3))) struct RoutingSlipBoundTests {
    @Test func resumeBouncesCannotPushAnotherRecipientsAcknowledgementOutOfTheSlip() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(300)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        let id = accepted.receipt.messageID
        let b = f.participant(BrokerFixture.b)
        let consumers = [ConsumerID("b-1"), ConsumerID("b-2")]

        let first = try #require(try await f.broker.lease(for: b, consumer: consumers[0], max: 1).first)
        let firstDelivered = try await f.broker.markDelivered(first)
        var bounces = 0
        var lastAttempt = first.attempt
        for i in 1...4100 {
            guard let moved = try await f.broker.leaseForResume(for: b, consumer: consumers[i % 2], messageID: id) else { continue }
            bounces += 1
            #expect(moved.attempt == lastAttempt + 1, "a resume is a new delivery attempt")
            lastAttempt = moved.attempt
            // A redelivery returns the first `delivered` receipt and records nothing.
            #expect(try await f.broker.markDelivered(moved).encodedBytes == firstDelivered.encodedBytes)
        }
        // The store's attempt limit (10) ends the bouncing: the message is dead-lettered for b.
        #expect(bounces == 9)
        #expect(try f.store.deadLetters(recipient: BrokerFixture.b).map(\.messageID) == [first.storeID])

        let c = f.participant(BrokerFixture.c)
        let dc = try #require(try await f.broker.lease(for: c, consumer: ConsumerID("c-1"), max: 1).first)
        try await f.broker.markDelivered(dc)
        let ack = try f.acknowledgement(for: dc, by: BrokerFixture.c)
        let acked = try await f.broker.acknowledge(from: c, consumer: ConsumerID("c-1"), statement: ack.statement, signature: ack.signature)

        let slip = try f.broker.routingSlip(of: id, requester: envelope.sender)
        #expect(slip.contains { $0.encodedBytes == acked.encodedBytes }, "c's acknowledgement must be in the slip")
        #expect(slip.filter { $0.receipt.kind == .delivered && $0.receipt.recipient == b.id.asPID }.count == 1)
        #expect(slip.count <= 6)
    }

    /// Acknowledgements (and acceptance and expiry) are recorded whatever the slip's size; only a repeatable kind
    /// (dead-lettered: requeue, dead-letter, requeue …) stops at the per-message bound, and is then not confirmed.
    @Test func anAcknowledgementIsRecordedBeyondTheBound() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let envelope = try f.envelope(to: [BrokerFixture.b], payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        let id = accepted.receipt.messageID
        let recipient = f.party(BrokerFixture.b).id
        let log = try ReceiptLog(directory: f.dir.file("slip-only"), limits: .default)
        defer { log.close() }
        #expect(try await log.record(accepted, storeID: 1, clientMessageID: envelope.clientMessageID, recipients: [recipient]) == .written)
        func signed(_ kind: Receipt.Kind, at ms: UInt64) throws -> SignedReceipt {
            let r = try Receipt(
                kind: kind, messageID: id, envelopeDigest: accepted.receipt.envelopeDigest, sender: envelope.sender,
                recipient: recipient, timestampMillis: ms, brokerID: accepted.receipt.brokerID,
                reason: kind == .deadLettered ? .deliveryAttemptsExhausted : nil)
            return try SignedReceipt(
                receipt: r, brokerSignature: try CMS.signDetached(r.canonicalBytes, certificate: f.brokerCertificate, key: f.brokerKey))
        }
        // Fills the slip in parallel batches (group commit) up to the bound.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for k in 0..<(ReceiptLog.maxEntriesPerMessage - 1) {
                let r = try signed(.deadLettered, at: 1_795_599_000_000 + UInt64(k))
                group.addTask { _ = try await log.record(r, storeID: 0, clientMessageID: "", recipients: []) }
                if k % 256 == 255 { try await group.waitForAll() }
            }
        }
        #expect(try log.slip(id)?.receipts.count == ReceiptLog.maxEntriesPerMessage)
        #expect(try await log.record(try signed(.deadLettered, at: 1), storeID: 0, clientMessageID: "", recipients: []) == .dropped)
        let first = try signed(.delivered, at: 2)
        #expect(try await log.record(first, storeID: 0, clientMessageID: "", recipients: []) == .written)
        #expect(try await log.record(try signed(.delivered, at: 3), storeID: 0, clientMessageID: "", recipients: []) == .superseded)
        let ackStatement = AcknowledgementStatement(
            messageID: id, envelopeDigest: accepted.receipt.envelopeDigest, sender: envelope.sender,
            recipient: recipient, timestampMillis: 4)
        let ackReceipt = try Receipt(
            kind: .acknowledged, messageID: id, envelopeDigest: accepted.receipt.envelopeDigest,
            sender: envelope.sender, recipient: recipient, timestampMillis: 4, brokerID: accepted.receipt.brokerID)
        let ack = try SignedReceipt(
            receipt: ackReceipt,
            brokerSignature: try CMS.signDetached(ackReceipt.canonicalBytes, certificate: f.brokerCertificate, key: f.brokerKey),
            acknowledgement: .init(statement: ackStatement, signature: try f.sign(ackStatement.canonicalBytes, by: BrokerFixture.b)))
        #expect(try await log.record(ack, storeID: 0, clientMessageID: "", recipients: []) == .written)
        #expect(try await log.record(ack, storeID: 0, clientMessageID: "", recipients: []) == .alreadyRecorded)
        let slip = try #require(try log.slip(id))
        #expect(slip.receipts.last?.encodedBytes == ack.encodedBytes)
        #expect(slip.receipts.count == ReceiptLog.maxEntriesPerMessage + 2)
    }
}
