import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// Merkle root and proof per SPEC.md §5.6, computed independently of the broker for the test.
private func merkle(_ digests: [SHA256Digest], proofFor index: Int) throws -> (root: SHA256Digest, path: [SHA256Digest]) {
    func h(_ b: [UInt8]) throws -> SHA256Digest { try SHA256Digest(bytes: SHA256.hash(b)) }
    var level = try digests.map { try h([0x00] + $0.bytes) }
    var position = index
    var path: [SHA256Digest] = []
    while level.count > 1 {
        var next: [SHA256Digest] = []
        var i = 0
        while i < level.count {
            if i + 1 < level.count { next.append(try h([0x01] + level[i].bytes + level[i + 1].bytes)) } else { next.append(level[i]) }
            i += 2
        }
        let sibling = position % 2 == 1 ? position - 1 : position + 1
        if sibling < level.count { path.append(level[sibling]) }
        position /= 2
        level = next
    }
    return (level[0], path)
}

@Suite(.timeLimit(.minutes(2))) struct BrokerBatchAndRecoveryTests {
    @Test func batchSignatureIsVerifiedAndDelivered() async throws {
        let f = try await BrokerFixture()
        let payloads = (0..<3).map { payloadBytes(100 + $0, seed: UInt8($0)) }
        let envelopes = try payloads.enumerated().map { try f.envelope(payload: $1, clientID: "batch-\($0)") }
        let digests = try envelopes.map { try SHA256Digest(bytes: SHA256.hash($0.canonicalBytes)) }
        let (root, path) = try merkle(digests, proofFor: 2)
        let statement = try BatchRootStatement(leafCount: 3, root: root)
        let cms = try f.sign(statement.canonicalBytes, by: BrokerFixture.sender)
        let proof = try BatchInclusionProof(cms: cms, leafCount: 3, leafIndex: 2, path: path)

        let submission = try f.begin(envelopes[2], form: .batch)
        try submission.append(payloads[2])
        let receipt = try await f.broker.finishSubmission(submission, signature: .batch(proof))
        #expect(receipt.receipt.kind == .accepted)
        let d = try #require(try await f.broker.lease(for: f.participant(BrokerFixture.b), consumer: ConsumerID("c"), max: 1).first)
        #expect(d.message.senderSignature == .batch(proof))

        // The same proof does not cover envelope 1.
        let wrong = try f.begin(envelopes[1], form: .batch)
        try wrong.append(payloads[1])
        await #expect { _ = try await f.broker.finishSubmission(wrong, signature: .batch(proof)) } throws: {
            ($0 as? ProtocolError)?.code == .signatureInvalid
        }
    }

    @Test func deadLetterBecomesReceipt() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        let live = try f.broker.receipts(for: envelope.sender)
        let broker = f.broker
        let runner = Task { await broker.run() }
        let b = f.participant(BrokerFixture.b)
        for attempt in 1...10 {
            let d = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c"), max: 1).first)
            #expect(d.attempt == attempt)
            try f.broker.nack(from: b, consumer: ConsumerID("c"), messageID: d.messageID)
        }
        #expect(try await f.broker.lease(for: b, consumer: ConsumerID("c"), max: 1).isEmpty)
        var dead: SignedReceipt?
        for await r in live where r.receipt.kind == .deadLettered { dead = r; break }
        #expect(dead?.receipt.reason == .deliveryAttemptsExhausted)
        #expect(dead?.receipt.messageID == accepted.receipt.messageID)
        runner.cancel()
    }

    @Test func tornReceiptLogTailIsCutAndQuarantined() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let log = f.dir.file("broker/receipts.klog")
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        handle.write(Data([0x4B, 0x52, 0x4C, 0x31, 0, 0, 0, 9, 1, 2]))  // a record cut off mid-header
        try handle.close()
        try await f.restart()
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        #expect(slip.map(\.encodedBytes) == [accepted.encodedBytes])
        let files = try FileManager.default.contentsOfDirectory(atPath: f.dir.file("broker"))
        #expect(files.contains { $0.hasSuffix(".bad") })
        // New receipts append after the cut.
        let second = try await f.send(try f.envelope(payload: payload, clientID: "second"), payload: payload)
        try await f.restart()
        #expect(try f.broker.routingSlip(of: second.receipt.messageID, requester: f.party(BrokerFixture.sender).id).count == 1)
    }

    @Test func retryRecordsAcceptedReceiptLostBetweenStoreAndSlip() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let envelope = try f.envelope(payload: payload)
        let accepted = try await f.send(envelope, payload: payload)
        // Simulate a crash after the store append but before the slip write.
        f.broker.close()
        try FileManager.default.removeItem(atPath: f.dir.file("broker/receipts.klog"))
        try await f.restart()
        #expect(throws: ProtocolError.self) {
            _ = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        }
        let retried = try await f.send(envelope, payload: payload)
        #expect(retried.encodedBytes == accepted.encodedBytes)
        #expect(try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id).count == 1)
    }
}
