public import KlammerProtocol

/// What the broker keeps in the store record's `envelope` field (SPEC.md §7.4): the stored envelope (message id,
/// acceptance time, canonical signed envelope), the sender's detached CMS signature and the DER of the registered
/// certificate it verified against, so recipients can verify offline even after the sender's certificate rolled over.
public struct StoredMessage: Sendable, Equatable {
    /// Format version byte of the encoding.
    static let formatVersion: UInt8 = 1
    /// Largest certificate accepted in the record.
    static let maxCertificateBytes = 64 << 10

    /// Message id, acceptance time and the canonical signed envelope.
    public let stored: StoredEnvelope
    /// The sender's signature (§5.5): a detached CMS over the canonical envelope, or over a batch root with this
    /// envelope's inclusion proof.
    public let senderSignature: SenderSignature
    /// DER of the sender certificate the signature verified against.
    public let senderCertificateDER: [UInt8]

    /// Creates the record value.
    public init(stored: StoredEnvelope, senderSignature: SenderSignature, senderCertificateDER: [UInt8]) {
        self.stored = stored
        self.senderSignature = senderSignature
        self.senderCertificateDER = senderCertificateDER
    }

    /// SHA-256 of the canonical envelope (the digest receipts refer to).
    public var envelopeDigest: SHA256Digest { stored.envelope.digest(sha256: BrokerHash.sha256) }

    /// `u8 version ‖ id16 ‖ u64 acceptedAt ‖ blob32 envelope ‖ signature (§5.5 layout) ‖ blob32 certificate`.
    var encoded: [UInt8] {
        var w = BrokerByteWriter()
        w.u8(Self.formatVersion)
        w.raw(stored.messageID.bytes)
        w.u64(stored.acceptedAtMillis)
        w.blob32(stored.envelope.canonicalBytes)
        w.u8(senderSignature.form.rawValue)
        w.blob32(senderSignature.cms)
        if case .batch(let proof) = senderSignature {
            w.u16(proof.leafCount)
            w.u16(proof.leafIndex)
            w.u8(UInt8(proof.path.count))
            for node in proof.path { w.raw(node.bytes) }
        }
        w.blob32(senderCertificateDER)
        return w.bytes
    }

    /// Parses `encoded` strictly (no trailing bytes).
    init(decoding bytes: [UInt8], limits: ProtocolLimits) throws {
        var r = BrokerByteReader(bytes)
        do {
            guard try r.u8() == Self.formatVersion else {
                throw ProtocolError(.internalError, "stored message record has an unknown version; the store was written by a newer broker")
            }
            let id = try MessageID(bytes: r.raw(16))
            let acceptedAt = try r.u64()
            let envelope = try Envelope(parsingCanonical: r.blob32(max: Int(limits.maxFrameSize)), limits: limits)
            let form = try r.u8()
            let cms = try r.blob32(max: Int(limits.maxSignatureSize))
            let signature: SenderSignature
            switch SignatureForm(rawValue: form) {
            case .single: signature = .single(cms: cms)
            case .batch:
                let count = try r.u16(), index = try r.u16(), n = Int(try r.u8())
                guard n <= Int(BatchInclusionProof.maxDepth) else { throw BrokerByteReader.Truncated() }
                var path: [SHA256Digest] = []
                for _ in 0..<n { path.append(try SHA256Digest(bytes: r.raw(32))) }
                signature = .batch(try BatchInclusionProof(cms: cms, leafCount: count, leafIndex: index, path: path))
            case nil: throw BrokerByteReader.Truncated()
            }
            let certificate = try r.blob32(max: Self.maxCertificateBytes)
            guard r.isAtEnd else { throw BrokerByteReader.Truncated() }
            self.init(
                stored: StoredEnvelope(messageID: id, acceptedAtMillis: acceptedAt, envelope: envelope),
                senderSignature: signature, senderCertificateDER: certificate)
        } catch is BrokerByteReader.Truncated {
            throw ProtocolError(.internalError, "stored message record is truncated or has trailing bytes; run `klammerctl store scrub`")
        }
    }
}
