import KlammerCrypto
public import KlammerProtocol

/// The Merkle tree of a batch signature over envelope digests (SPEC.md §5.6): leaf = SHA-256(0x00 ‖ d),
/// node = SHA-256(0x01 ‖ left ‖ right), an odd last node is promoted unchanged.
///
/// Built once per batch; `proof(for:)` then reads each member's sibling path from the stored levels, so a batch of
/// n messages costs about 2n hashes in total and one CMS signature.
public struct BatchMerkleTree: Sendable {
    /// All levels, leaf hashes first; the last level holds the root alone.
    let levels: [[SHA256Digest]]

    /// Builds the tree over `envelopeDigests` (1…4096, in the order the sender chose).
    /// - Throws: `invalidArgument` when the batch is empty or larger than `ProtocolLimits.Ceiling.maxBatchSize`.
    public init(envelopeDigests: [SHA256Digest]) throws(KlammerClientError) {
        guard !envelopeDigests.isEmpty, envelopeDigests.count <= Int(ProtocolLimits.Ceiling.maxBatchSize) else {
            throw KlammerClientError(
                .invalidArgument,
                "a signature batch needs 1…\(ProtocolLimits.Ceiling.maxBatchSize) messages, not \(envelopeDigests.count); split it")
        }
        var level = envelopeDigests.map { Self.hash(BatchInclusionProof.leafInput(envelopeDigest: $0)) }
        var levels = [level]
        while level.count > 1 {
            var next: [SHA256Digest] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i + 1 < level.count {
                next.append(Self.hash(BatchInclusionProof.nodeInput(left: level[i], right: level[i + 1])))
                i += 2
            }
            if i < level.count { next.append(level[i]) }  // promoted, not hashed with itself
            levels.append(next)
            level = next
        }
        self.levels = levels
    }

    /// Number of leaves.
    public var leafCount: Int { levels[0].count }
    /// The Merkle root.
    public var root: SHA256Digest { levels[levels.count - 1][0] }

    /// The statement the batch CMS signs (SPEC.md §5.5).
    public var statement: BatchRootStatement {
        // Count is within 1...4096 by construction.
        try! BatchRootStatement(leafCount: UInt16(leafCount), root: root)
    }

    /// Sibling path of leaf `index`, bottom-up, skipping levels where the node is promoted.
    public func path(for index: Int) -> [SHA256Digest] {
        var result: [SHA256Digest] = []
        var position = index
        for level in levels.dropLast() {
            let sibling = position ^ 1
            if sibling < level.count { result.append(level[sibling]) }
            position /= 2
        }
        return result
    }

    static func hash(_ bytes: [UInt8]) -> SHA256Digest { SHA256Digest(hashOutput: SHA256.hash(bytes)) }
}
