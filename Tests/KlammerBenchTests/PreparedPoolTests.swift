import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import Testing
@testable import klammer_bench

/// The bench's signed-message pool (issue 13): a connection's send slots share its batches, so the broker sees one
/// CMS per `batchSize` messages however many slots there are, and nothing is signed while the timer runs as long
/// as the batches signed beforehand last.
@Suite struct PreparedPoolTests {
    static func template(batchSize: Int) throws -> PreparedPool.Template {
        let ca = try CertificateAuthority.create(commonName: "Klammer Bench Test CA", organization: "Tests", keyKind: .p256)
        let key = try PrivateKey.generate(.p256)
        let certificate = try ca.issue(
            commonName: "bench sender", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:13004000"],
            publicKey: key.publicKey, usage: .client)
        let credentials = try ClientCredentials(
            certificateChain: [certificate], privateKey: key,
            trustStore: TrustStore(anchors: [ca.certificate]))
        let payload = [UInt8](repeating: 0x42, count: 64)
        return PreparedPool.Template(
            credentials: credentials, recipients: [try ParticipantID("ags:13003000")], payload: payload,
            digest: try PayloadSource.bytes(payload).measure().digest, batchSize: batchSize, tag: "test")
    }

    /// 64 concurrent slots take 4 × 256 messages: 4 CMS signatures in all (the old bench, one batch per slot,
    /// signed 64), each covering 256 consecutive batch members, all signed before the "run".
    @Test func concurrentSlotsShareBatches() async throws {
        let pool = try PreparedPool(try Self.template(batchSize: 256), initialBatches: 5)
        let taken = BenchBox<[PreparedMessage]>([])
        await BenchWorkloads.runWorkers(64) { _ in
            for _ in 0..<16 {
                if case .success(let message) = pool.take() { taken.withLock { $0.append(message) } }
            }
        }
        let messages = taken.withLock { $0 }
        #expect(messages.count == 1024)
        var members: [[UInt8]: Set<UInt16>] = [:]
        for message in messages {
            guard case .batch(let proof) = message.signature else { Issue.record("not batch-signed"); continue }
            #expect(proof.leafCount == 256)
            members[proof.cms, default: []].insert(proof.leafIndex)
        }
        #expect(members.count == 4, "\(members.count) signatures for 1024 messages")
        #expect(members.values.allSatisfy { $0.count == 256 })
        #expect(Set(messages.map(\.envelope.clientMessageID)).count == 1024, "client message ids must be unique")
        #expect(pool.batchesSignedDuringRun == 0)
    }

    /// A run longer than the batches signed beforehand signs more as it goes (counted), one batch ahead.
    @Test func signsFurtherBatchesWhenUsedUp() throws {
        let pool = try PreparedPool(try Self.template(batchSize: 8), initialBatches: 1)
        for _ in 0..<40 {
            guard case .success = pool.take() else { Issue.record("take failed"); return }
        }
        // Signed at takes 1, 9, 17, 25 and 33: whenever fewer than a batch is left, so one batch stays ahead.
        #expect(pool.batchesSignedDuringRun == 5)
    }
}
