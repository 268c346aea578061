import NIOCore

/// What a batch signature's CMS signs: the Merkle root of a batch of envelope digests
/// (SPEC.md §5.6). Domain-separated so it can never be confused with an envelope or receipt.
///
/// Layout: `KLAMMER-BATCH\0` (14) | version u8 = 1 | leaf count u16 | root (32).
public struct BatchRootStatement: Hashable, Sendable {
    /// Domain-separation prefix `KLAMMER-BATCH\0`.
    public static let domainPrefix: [UInt8] = Array("KLAMMER-BATCH".utf8) + [0]
    /// Version byte.
    public static let canonicalVersion: UInt8 = 1

    /// Number of leaves (1...4096).
    public let leafCount: UInt16
    /// The Merkle root.
    public let root: SHA256Digest

    /// Creates a statement; throws INVALID_VALUE on a leaf count outside 1...4096.
    public init(leafCount: UInt16, root: SHA256Digest) throws {
        guard leafCount >= 1, leafCount <= ProtocolLimits.Ceiling.maxBatchSize else {
            throw ProtocolError(.invalidValue, "batch leaf count \(leafCount) outside 1...4096")
        }
        self.leafCount = leafCount
        self.root = root
    }

    /// The canonical signed bytes (49 bytes).
    public var canonicalBytes: [UInt8] {
        var out = ByteBuffer()
        out.writeBytes(Self.domainPrefix)
        out.writeInteger(Self.canonicalVersion)
        out.writeInteger(leafCount)
        out.writeBytes(root.bytes)
        return out.readBytes(length: out.readableBytes) ?? []
    }

    /// Parses canonical bytes strictly.
    public init(parsingCanonical bytes: [UInt8]) throws {
        var r = WireReader(bytes: bytes, context: "batch root statement")
        guard try r.bytes(Self.domainPrefix.count, "domain prefix") == Self.domainPrefix else {
            throw r.error(.invalidValue, "wrong domain prefix")
        }
        let version = try r.u8("version")
        guard version == Self.canonicalVersion else { throw r.error(.unsupportedVersion, "version \(version)") }
        let count = try r.u16("leaf count")
        let root = try r.digest("root")
        try r.finish()
        try self.init(leafCount: count, root: root)
    }
}
