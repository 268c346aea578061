import KlammerCrypto
import Testing
@testable import KlammerProtocol

/// The one Merkle inclusion-proof fold (`BatchInclusionProof.root`, `SenderSignature.signedContent`) that the broker
/// and the recipients verify batch signatures with (SPEC.md §5.5, §5.6).
@Suite struct BatchProofFoldTests {
    static func sha(_ bytes: [UInt8]) -> SHA256Digest { try! SHA256Digest(bytes: SHA256.hash(bytes)) }
    static func leaf(_ d: SHA256Digest) -> SHA256Digest { sha(BatchInclusionProof.leafInput(envelopeDigest: d)) }
    static func node(_ l: SHA256Digest, _ r: SHA256Digest) -> SHA256Digest { sha(BatchInclusionProof.nodeInput(left: l, right: r)) }

    /// The §5.6 example: n = 3, the sample envelope (d₂) at index 2.
    static let d0 = sha(Array("envelope 0".utf8))
    static let d1 = sha(Array("envelope 1".utf8))

    @Test func envelopeDigestIsTheSpecVector() {
        #expect(Fixtures.envelope.digest(sha256: SHA256.hash).hex == Fixtures.envelopeDigestHex)
    }

    @Test func specExampleFoldsToTheSpecRoot() throws {
        #expect(Self.d0.hex == "f0bd02504c77ec3d17352442d11becd77095091e6acbc4aa3ceb5547e81046b8")
        #expect(Self.d1.hex == "f093a077f303ba3e52eae31a584be0bcf87ff73a0c1c981cf6db772fa095fa62")
        let d2 = Fixtures.envelopeDigest
        #expect(Self.leaf(d2).hex == "48953f7d47843936be95474088b1795b0bcf6555169770222fc050a1fb37cbc3")
        #expect(Self.node(Self.leaf(Self.d0), Self.leaf(Self.d1)).hex == Fixtures.batchSiblingHex)

        // Index 2 (the send_end_batch vector's proof): promoted at level 0, one sibling at level 1.
        #expect(try Fixtures.batchProof.root(envelopeDigest: d2, sha256: SHA256.hash).hex == Fixtures.batchRootHex)
        // The signed content is the batch_root vector, computed from the envelope itself.
        let content = try SenderSignature.batch(Fixtures.batchProof).signedContent(of: Fixtures.envelope, sha256: SHA256.hash)
        #expect(Hex.encode(content) == Vectors.hex("batch_root"))

        // Indices 0 and 1 of the same tree reach the same root: the sibling leaf, then the promoted L₂.
        let l2 = Self.leaf(d2)
        let p0 = try BatchInclusionProof(cms: [1], leafCount: 3, leafIndex: 0, path: [Self.leaf(Self.d1), l2])
        let p1 = try BatchInclusionProof(cms: [1], leafCount: 3, leafIndex: 1, path: [Self.leaf(Self.d0), l2])
        #expect(try p0.root(envelopeDigest: Self.d0, sha256: SHA256.hash).hex == Fixtures.batchRootHex)
        #expect(try p1.root(envelopeDigest: Self.d1, sha256: SHA256.hash).hex == Fixtures.batchRootHex)
    }

    @Test func singleFormSignsTheCanonicalEnvelope() throws {
        let content = try SenderSignature.single(cms: [1]).signedContent(of: Fixtures.envelope, sha256: SHA256.hash)
        #expect(Hex.encode(content) == Vectors.hex("envelope"))
    }

    /// Against an independent level-by-level tree, for sizes with promoted nodes at several levels: every member's
    /// proof folds to the root, and a different envelope, a changed sibling or a swapped position does not.
    @Test func everyMemberOfEveryShapeFoldsToTheRoot() throws {
        for count in [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 16, 17, 31, 33] {
            let digests = (0..<count).map { Self.sha(Array("member \($0) of \(count)".utf8)) }
            var levels = [digests.map(Self.leaf)]
            while levels[levels.count - 1].count > 1 {
                let level = levels[levels.count - 1]
                levels.append(
                    stride(from: 0, to: level.count, by: 2).map {
                        $0 + 1 < level.count ? Self.node(level[$0], level[$0 + 1]) : level[$0]
                    })
            }
            let root = levels[levels.count - 1][0]
            for index in 0..<count {
                var path: [SHA256Digest] = []
                var position = index
                for level in levels.dropLast() {
                    if position ^ 1 < level.count { path.append(level[position ^ 1]) }
                    position /= 2
                }
                let proof = try BatchInclusionProof(cms: [1], leafCount: UInt16(count), leafIndex: UInt16(index), path: path)
                #expect(try proof.root(envelopeDigest: digests[index], sha256: SHA256.hash) == root, "n=\(count) i=\(index)")
                guard count > 1 else { continue }
                let other = digests[(index + 1) % count]
                #expect(try proof.root(envelopeDigest: other, sha256: SHA256.hash) != root, "another envelope, n=\(count) i=\(index)")
                for k in path.indices {
                    var forged = path
                    forged[k] = Self.sha(path[k].bytes)
                    let bad = try BatchInclusionProof(cms: [1], leafCount: UInt16(count), leafIndex: UInt16(index), path: forged)
                    #expect(
                        try bad.root(envelopeDigest: digests[index], sha256: SHA256.hash) != root, "sibling \(k), n=\(count) i=\(index)")
                }
                if path.count > 1 {
                    let swapped = try BatchInclusionProof(
                        cms: [1], leafCount: UInt16(count), leafIndex: UInt16(index),
                        path: Array(path.reversed()))
                    #expect(try swapped.root(envelopeDigest: digests[index], sha256: SHA256.hash) != root || path.first == path.last)
                }
            }
        }
    }
}
