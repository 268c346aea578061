import Foundation
import Testing
@testable import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// One CMS verification per batch (SPEC.md §5.5): later members of a verified batch are accepted on their Merkle
/// proof alone, and a proof that does not lead to the verified root still fails.
@Suite(.timeLimit(.minutes(2))) struct BatchVerificationCacheTests {
    /// Root and sibling paths per SPEC.md §5.6, computed independently of the code under test.
    static func tree(_ digests: [SHA256Digest]) throws -> (root: SHA256Digest, paths: [[SHA256Digest]]) {
        func h(_ b: [UInt8]) throws -> SHA256Digest { try SHA256Digest(bytes: SHA256.hash(b)) }
        var levels = [try digests.map { try h([0x00] + $0.bytes) }]
        while levels.last!.count > 1 {
            let level = levels.last!
            var next: [SHA256Digest] = []
            for i in stride(from: 0, to: level.count, by: 2) {
                next.append(i + 1 < level.count ? try h([0x01] + level[i].bytes + level[i + 1].bytes) : level[i])
            }
            levels.append(next)
        }
        let paths = digests.indices.map { index in
            var position = index
            var path: [SHA256Digest] = []
            for level in levels.dropLast() {
                if position ^ 1 < level.count { path.append(level[position ^ 1]) }
                position /= 2
            }
            return path
        }
        return (levels.last![0], paths)
    }

    func submit(_ f: BrokerFixture, _ envelope: Envelope, payload: [UInt8], proof: BatchInclusionProof) async throws -> SignedReceipt {
        let submission = try f.begin(envelope, form: .batch)
        try submission.append(payload)
        return try await f.broker.finishSubmission(submission, signature: .batch(proof))
    }

    @Test func oneVerificationPerBatchAndForgedProofsStillFail() async throws {
        let f = try await BrokerFixture()
        let payloads = (0..<5).map { payloadBytes(50 + $0, seed: UInt8($0)) }
        let envelopes = try payloads.enumerated().map { try f.envelope(payload: $1, clientID: "cache-\($0)") }
        let digests = try envelopes.map { try SHA256Digest(bytes: SHA256.hash($0.canonicalBytes)) }
        let (root, paths) = try Self.tree(digests)
        let cms = try f.sign(try BatchRootStatement(leafCount: 5, root: root).canonicalBytes, by: BrokerFixture.sender)
        func proof(_ i: Int) throws -> BatchInclusionProof {
            try BatchInclusionProof(cms: cms, leafCount: 5, leafIndex: UInt16(i), path: paths[i])
        }

        #expect(f.broker.verifiedBatchCount == 0)
        for i in 0..<3 {
            let receipt = try await submit(f, envelopes[i], payload: payloads[i], proof: try proof(i))
            #expect(receipt.receipt.kind == .accepted)
            #expect(f.broker.verifiedBatchCount == 1, "member \(i) must reuse the first member's verification")
        }

        // Member 3 with a forged path (one sibling replaced): the recomputed root differs, the cache misses and the
        // full CMS verification refuses it.
        var forgedPath = paths[3]
        forgedPath[0] = digests[0]
        let forged = try BatchInclusionProof(cms: cms, leafCount: 5, leafIndex: 3, path: forgedPath)
        await #expect { _ = try await submit(f, envelopes[3], payload: payloads[3], proof: forged) } throws: {
            ($0 as? ProtocolError)?.code == .signatureInvalid
        }

        // An envelope outside the batch presenting a verified member's proof and CMS.
        let outsider = try f.envelope(payload: payloads[4], clientID: "cache-outsider")
        await #expect { _ = try await submit(f, outsider, payload: payloads[4], proof: try proof(4)) } throws: {
            ($0 as? ProtocolError)?.code == .signatureInvalid
        }

        // A different CMS over the same statement is its own cache entry (verified once more, then cached).
        let second = try f.sign(try BatchRootStatement(leafCount: 5, root: root).canonicalBytes, by: BrokerFixture.sender)
        let receipt = try await submit(
            f, envelopes[4], payload: payloads[4],
            proof: try BatchInclusionProof(cms: second, leafCount: 5, leafIndex: 4, path: paths[4]))
        #expect(receipt.receipt.kind == .accepted)
        #expect(f.broker.verifiedBatchCount == 2)

        // A corrupted CMS for a batch whose statement is cached is verified (and refused), not taken from the cache.
        var corrupted = cms
        corrupted[corrupted.count - 3] ^= 0x01
        await #expect {
            _ = try await submit(
                f, envelopes[3], payload: payloads[3],
                proof: try BatchInclusionProof(cms: corrupted, leafCount: 5, leafIndex: 3, path: paths[3]))
        } throws: { [.signatureInvalid, .certificateNotRegistered].contains(($0 as? ProtocolError)?.code) }
    }

    @Test func cacheIsBoundedAndEvictsLeastRecentlyUsed() throws {
        let certificate = try CertificateAuthority.create(commonName: "cache test CA").certificate
        var cache = VerifiedBatchCache(capacity: 4)
        func key(_ i: UInt8) -> VerifiedBatchCache.Key { .init(statementDigest: [i], signatureDigest: [i], sender: "ags:1") }
        for i in UInt8(0)..<4 { cache.insert(key(i), certificate: certificate, fingerprint: "f") }
        #expect(cache.lookup(key(0)) != nil)  // 0 is now the most recently used
        cache.insert(key(4), certificate: certificate, fingerprint: "f")
        #expect(cache.count <= 4)
        #expect(cache.lookup(key(0)) != nil)
        #expect(cache.lookup(key(4)) != nil)
        #expect(cache.lookup(key(1)) == nil)  // least recently used, evicted
        for i in UInt8(5)..<100 { cache.insert(key(i), certificate: certificate, fingerprint: "f") }
        #expect(cache.count <= 4)
    }
}
