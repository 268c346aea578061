import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

extension BrokerFixture {
    /// The recipient's signed acknowledgement statement for a delivery.
    func acknowledgement(for d: BrokerDelivery, by id: String, signer: String? = nil) throws -> (statement: [UInt8], signature: [UInt8]) {
        let statement = AcknowledgementStatement(
            messageID: d.messageID, envelopeDigest: d.message.envelopeDigest, sender: d.message.stored.envelope.sender,
            recipient: try ParticipantID(id), timestampMillis: 1_795_599_060_000)
        return (statement.canonicalBytes, try sign(statement.canonicalBytes, by: signer ?? id))
    }
}

@Suite(.timeLimit(.minutes(2))) struct BrokerDeliveryTests {
    @Test func sendLeaseAckWithRoutingSlipAcrossRestarts() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(2000)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        let id = accepted.receipt.messageID

        try await f.restart()
        let live = try f.broker.receipts(for: envelope.sender)
        let b = f.participant(BrokerFixture.b)
        let deliveries = try await f.broker.lease(for: b, consumer: ConsumerID("conn-b"), max: 10)
        let d = try #require(deliveries.first)
        #expect(deliveries.count == 1)
        #expect(d.messageID == id)
        #expect(d.message.stored.envelope == envelope)
        #expect(d.payload == .inline(payload))
        // The recipient can verify the sender's signature offline with the delivered certificate.
        try CMS.verifyDetached(
            signature: d.message.senderSignature.cms, content: d.message.stored.envelope.canonicalBytes,
            signer: Certificate(der: d.message.senderCertificateDER))
        let delivered = try await f.broker.markDelivered(d)
        #expect(delivered.receipt.kind == .delivered && delivered.receipt.recipient == b.id.asPID)

        let (statement, signature) = try f.acknowledgement(for: d, by: BrokerFixture.b)
        let acked = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: statement, signature: signature)
        #expect(acked.receipt.kind == .acknowledged)
        #expect(acked.acknowledgement?.signature == signature)
        try f.verifyBrokerSignature(acked)
        #expect(try f.store.browse(recipient: BrokerFixture.b).isEmpty)

        var seen: [Receipt.Kind] = []
        for await r in live {
            seen.append(r.receipt.kind)
            if seen.count == 2 { break }
        }
        #expect(seen == [.delivered, .acknowledged])

        // A second ack of the same message is refused (not leased any more).
        await #expect {
            _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: statement, signature: signature)
        } throws: { ($0 as? ProtocolError)?.code == .unknownMessage }

        try await f.restart()
        let slip = try f.broker.routingSlip(of: id, requester: envelope.sender)
        #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
        #expect(slip[0].encodedBytes == accepted.encodedBytes)
        #expect(slip[2].encodedBytes == acked.encodedBytes)
        for r in slip { try f.verifyBrokerSignature(r) }
        // Recipients may read it, others not.
        #expect(try f.broker.routingSlip(of: id, requester: f.party(BrokerFixture.c).id).count == 3)
        #expect { _ = try f.broker.routingSlip(of: id, requester: f.party(BrokerFixture.d).id) } throws: {
            ($0 as? ProtocolError)?.code == .unknownMessage
        }
        // Acked entries stay acked; c still has its copy.
        #expect(try await f.broker.lease(for: b, consumer: ConsumerID("conn-b2"), max: 10).isEmpty)
        #expect(try await f.broker.lease(for: f.participant(BrokerFixture.c), consumer: ConsumerID("conn-c"), max: 10).count == 1)
    }

    @Test func ackRefusals() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        _ = try await f.send(try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload), payload: payload)
        let b = f.participant(BrokerFixture.b)
        let d = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("conn-b"), max: 1).first)

        // c acknowledges b's delivery in b's name.
        let byB = try f.acknowledgement(for: d, by: BrokerFixture.b)
        await #expect {
            _ = try await f.broker.acknowledge(
                from: f.participant(BrokerFixture.c), consumer: ConsumerID("conn-b"), statement: byB.statement, signature: byB.signature)
        } throws: { ($0 as? ProtocolError)?.code == .impersonation }
        // Signed by somebody else's certificate.
        let wrongSigner = try f.acknowledgement(for: d, by: BrokerFixture.b, signer: BrokerFixture.c)
        await #expect {
            _ = try await f.broker.acknowledge(
                from: b, consumer: ConsumerID("conn-b"), statement: wrongSigner.statement, signature: wrongSigner.signature)
        } throws: { ($0 as? ProtocolError)?.code == .certificateNotRegistered }
        // Missing signature.
        await #expect {
            _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: byB.statement, signature: [])
        } throws: { ($0 as? ProtocolError)?.code == .signatureMissing }
        // Signature over different bytes.
        let other = AcknowledgementStatement(
            messageID: d.messageID, envelopeDigest: d.message.envelopeDigest,
            sender: d.message.stored.envelope.sender, recipient: d.recipient, timestampMillis: 1)
        let otherSignature = try f.sign(other.canonicalBytes, by: BrokerFixture.b)
        await #expect {
            _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: byB.statement, signature: otherSignature)
        } throws: { ($0 as? ProtocolError)?.code == .signatureInvalid }
        // Wrong envelope digest.
        let wrongDigest = AcknowledgementStatement(
            messageID: d.messageID, envelopeDigest: try SHA256Digest(bytes: [UInt8](repeating: 1, count: 32)),
            sender: d.message.stored.envelope.sender, recipient: d.recipient, timestampMillis: 1)
        await #expect {
            _ = try await f.broker.acknowledge(
                from: b, consumer: ConsumerID("conn-b"), statement: wrongDigest.canonicalBytes,
                signature: try f.sign(wrongDigest.canonicalBytes, by: BrokerFixture.b))
        } throws: { ($0 as? ProtocolError)?.code == .invalidValue }
        // The right statement on another connection of the same participant is refused.
        await #expect {
            _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("other"), statement: byB.statement, signature: byB.signature)
        } throws: { ($0 as? ProtocolError)?.code == .unknownMessage }
        // Still leased and pending after all refusals; the correct ack works.
        #expect(try f.store.browse(recipient: BrokerFixture.b).count == 1)
        let ok = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: byB.statement, signature: byB.signature)
        #expect(ok.receipt.kind == .acknowledged)
    }

    @Test func nackAndDisconnectRedeliver() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let b = f.participant(BrokerFixture.b)
        let first = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c1"), max: 1).first)
        #expect(first.attempt == 1)
        #expect(try await f.broker.lease(for: b, consumer: ConsumerID("c2"), max: 1).isEmpty)
        // Not on another connection.
        #expect { try f.broker.nack(from: b, consumer: ConsumerID("other"), messageID: accepted.receipt.messageID) } throws: {
            ($0 as? ProtocolError)?.code == .unknownMessage
        }
        try f.broker.nack(from: b, consumer: ConsumerID("c1"), messageID: accepted.receipt.messageID)
        let second = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c2"), max: 1).first)
        #expect(second.attempt == 2)
        f.broker.disconnected(consumer: ConsumerID("c2"))
        let third = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c3"), max: 1).first)
        #expect(third.attempt == 3)
        // Leases of a suspended recipient are refused.
        _ = try f.registry.setStatus(.suspended, of: BrokerFixture.b)
        await #expect { _ = try await f.broker.lease(for: b, consumer: ConsumerID("c4"), max: 1) } throws: {
            ($0 as? ProtocolError)?.code == .participantSuspended
        }
    }

    @Test func expiryBecomesExpiredReceipt() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let envelope = try f.envelope(payload: payload, ttl: 60)
        let accepted = try await f.send(envelope, payload: payload)
        let live = try f.broker.receipts(for: envelope.sender)
        let broker = f.broker
        let runner = Task { await broker.run() }
        f.clock.advance(120)
        // Leasing meets the expired entry and expires it (the store's maintenance would too).
        #expect(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c"), max: 1).isEmpty)
        var expired: SignedReceipt?
        for await r in live where r.receipt.kind == .expired { expired = r; break }
        let r = try #require(expired)
        #expect(r.receipt.messageID == accepted.receipt.messageID)
        #expect(r.receipt.reason == .expired)
        #expect(r.receipt.recipient == f.party(BrokerFixture.b).id)
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: envelope.sender)
        #expect(slip.map(\.receipt.kind) == [.accepted, .expired])
        runner.cancel()
    }
}

extension String {
    var asPID: ParticipantID? { try? ParticipantID(self) }
}

extension BrokerDeliveryTests {
    @Test func restartBetweenLeaseAndAckRedelivers() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(300)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let first = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c"), max: 1).first)
        try await f.broker.markDelivered(first)
        let ack = try f.acknowledgement(for: first, by: BrokerFixture.b)
        try await f.restart()
        // Leases do not survive a restart: the old lease cannot be acknowledged, the message comes again.
        await #expect {
            _ = try await f.broker.acknowledge(
                from: f.participant(BrokerFixture.b), consumer: ConsumerID("c"),
                statement: ack.statement, signature: ack.signature)
        } throws: { ($0 as? ProtocolError)?.code == .unknownMessage }
        let again = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c2"), max: 1).first)
        #expect(again.messageID == accepted.receipt.messageID)
        #expect(again.attempt == 2)
        try await f.broker.markDelivered(again)
        _ = try await f.broker.acknowledge(
            from: f.participant(BrokerFixture.b), consumer: ConsumerID("c2"),
            statement: ack.statement, signature: ack.signature)
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        // One `delivered` receipt per recipient: the redelivery returns the first and records nothing (SPEC.md §7.2).
        #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
    }

    /// The `acknowledged` receipt is recorded before the store forgets the message: if the store step fails (here:
    /// the store is closed under the broker, standing in for a SIGKILL between the two steps), the sender's evidence
    /// is already in the routing slip and the message is delivered again after the restart. In the opposite order the
    /// integration suite's kill -9 runs left messages acknowledged in the store whose slip never got the receipt.
    @Test func acknowledgedReceiptIsRecordedBeforeTheStoreForgetsTheMessage() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(300)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let leased = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c"), max: 1).first)
        try await f.broker.markDelivered(leased)
        let ack = try f.acknowledgement(for: leased, by: BrokerFixture.b)
        await f.store.close()
        await #expect(throws: (any Error).self) {
            _ = try await f.broker.acknowledge(
                from: f.participant(BrokerFixture.b), consumer: ConsumerID("c"),
                statement: ack.statement, signature: ack.signature)
        }
        try await f.restart()
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
        let again = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c2"), max: 1).first)
        #expect(again.messageID == accepted.receipt.messageID)
    }

    /// A crash between the store append and the slip record (SPEC §7.2) leaves the `accepted` receipt to the sender's
    /// retry, which may come after the message was delivered and acknowledged: the slip still starts with it.
    @Test func acceptedRecordedLateStillStartsTheRoutingSlip() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(300)
        let envelope = try f.envelope(payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        // The slip record of the acceptance never reached the disk (kill -9 before its fsync).
        #expect(truncate(f.dir.file("broker/receipts.klog"), 0) == 0)
        try await f.restart()
        let leased = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c"), max: 1).first)
        try await f.broker.markDelivered(leased)
        let ack = try f.acknowledgement(for: leased, by: BrokerFixture.b)
        _ = try await f.broker.acknowledge(
            from: f.participant(BrokerFixture.b), consumer: ConsumerID("c"),
            statement: ack.statement, signature: ack.signature)
        let retried = try await f.send(envelope, payload: payload)
        #expect(retried == accepted)
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
    }
}
