/// A Merkle inclusion proof of one envelope digest in a signed batch (SPEC.md §5.6).
///
/// Tree: leaf = SHA-256(0x00 ‖ envelope-digest), node = SHA-256(0x01 ‖ left ‖ right); levels are
/// built left to right, an odd last node is promoted unchanged to the next level. `path` lists
/// the sibling hashes from the leaf level upwards, skipping levels where the node was promoted.
/// The verifier recomputes the root and verifies `cms` over `BatchRootStatement(leafCount:root:)`.
public struct BatchInclusionProof: Hashable, Sendable {
    /// Maximum path length: ⌈log2 4096⌉.
    public static let maxDepth: UInt8 = 12

    /// Detached CMS SignedData (DER) over `BatchRootStatement.canonicalBytes`.
    public let cms: [UInt8]
    /// Number of leaves in the batch (1...4096).
    public let leafCount: UInt16
    /// Position of this envelope's leaf (0..<leafCount).
    public let leafIndex: UInt16
    /// Sibling hashes, bottom-up; its length must equal `expectedPathLength(leafIndex:leafCount:)`.
    public let path: [SHA256Digest]

    /// Creates a proof; throws INVALID_VALUE if count, index and path length are inconsistent.
    public init(cms: [UInt8], leafCount: UInt16, leafIndex: UInt16, path: [SHA256Digest]) throws {
        guard leafCount >= 1, leafCount <= ProtocolLimits.Ceiling.maxBatchSize else {
            throw ProtocolError(.invalidValue, "batch leaf count \(leafCount) outside 1...4096")
        }
        guard leafIndex < leafCount else {
            throw ProtocolError(.invalidValue, "leaf index \(leafIndex) not below leaf count \(leafCount)")
        }
        let expected = Self.expectedPathLength(leafIndex: leafIndex, leafCount: leafCount)
        guard path.count == expected else {
            throw ProtocolError(.invalidValue, "proof path has \(path.count) nodes, expected \(expected)")
        }
        self.cms = cms
        self.leafCount = leafCount
        self.leafIndex = leafIndex
        self.path = path
    }

    /// For each level, tells whether the node at the proof's position has a sibling
    /// (false = promoted), bottom-up. Also the order in which `path` entries are combined:
    /// at a level with a sibling, an even position means `node(current, sibling)`,
    /// an odd one `node(sibling, current)`.
    public static func levels(leafIndex: UInt16, leafCount: UInt16) -> [(hasSibling: Bool, isRightChild: Bool)] {
        var result: [(Bool, Bool)] = []
        var index = Int(leafIndex)
        var width = Int(leafCount)
        while width > 1 {
            let isRight = index % 2 == 1
            let hasSibling = isRight || index + 1 < width
            result.append((hasSibling, isRight))
            index /= 2
            width = (width + 1) / 2
        }
        return result
    }

    /// Number of sibling hashes a proof for this position carries.
    public static func expectedPathLength(leafIndex: UInt16, leafCount: UInt16) -> Int {
        guard leafIndex < leafCount else { return 0 }
        return levels(leafIndex: leafIndex, leafCount: leafCount).filter(\.hasSibling).count
    }

    /// Domain byte of leaf hashes.
    public static let leafPrefix: UInt8 = 0x00
    /// Domain byte of interior-node hashes.
    public static let nodePrefix: UInt8 = 0x01

    /// The bytes to hash for a leaf: `0x00 ‖ envelope-digest`.
    public static func leafInput(envelopeDigest: SHA256Digest) -> [UInt8] { [leafPrefix] + envelopeDigest.bytes }

    /// The bytes to hash for an interior node: `0x01 ‖ left ‖ right`.
    public static func nodeInput(left: SHA256Digest, right: SHA256Digest) -> [UInt8] {
        [nodePrefix] + left.bytes + right.bytes
    }
}

extension BatchInclusionProof {
    /// The Merkle root this proof yields for `envelopeDigest` (SPEC.md §5.6): the leaf `SHA-256(0x00 ‖ d)`, then at
    /// each level where the node has a sibling `SHA-256(0x01 ‖ left ‖ right)` with the next path entry on the side
    /// `levels(leafIndex:leafCount:)` names; promoted levels consume nothing. The one fold broker and client share;
    /// pass KlammerCrypto's `SHA256.hash`.
    /// - Throws: INVALID_VALUE when `path` is shorter or longer than index and count require (the initialiser already
    ///   refuses such a proof, so this is a second guard, not a path a valid proof takes).
    public func root(envelopeDigest: SHA256Digest, sha256: SHA256Function) throws -> SHA256Digest {
        var current = SHA256Digest(hashOutput: sha256(Self.leafInput(envelopeDigest: envelopeDigest)))
        var remaining = path[...]
        for level in Self.levels(leafIndex: leafIndex, leafCount: leafCount) where level.hasSibling {
            guard let sibling = remaining.popFirst() else {
                throw ProtocolError(.invalidValue, "batch proof path is shorter than its leaf index and count require")
            }
            let input =
                level.isRightChild
                ? Self.nodeInput(left: sibling, right: current)
                : Self.nodeInput(left: current, right: sibling)
            current = SHA256Digest(hashOutput: sha256(input))
        }
        guard remaining.isEmpty else {
            throw ProtocolError(.invalidValue, "batch proof path is longer than its leaf index and count require")
        }
        return current
    }
}
