public import NIOCore

/// The sender's signature over an envelope, in one of the `SignatureForm`s (SPEC.md §5.5).
/// Signatures are opaque bytes here; verification happens in KlammerCrypto.
public enum SenderSignature: Hashable, Sendable {
    /// Detached CMS SignedData (DER) whose signed content is `Envelope.canonicalBytes`.
    case single(cms: [UInt8])
    /// Batch signature: CMS over the batch root statement plus this envelope's inclusion proof.
    case batch(BatchInclusionProof)

    /// The form of this signature.
    public var form: SignatureForm {
        switch self {
        case .single: return .single
        case .batch: return .batch
        }
    }

    /// The CMS bytes (in either form).
    public var cms: [UInt8] {
        switch self {
        case .single(let cms): return cms
        case .batch(let proof): return proof.cms
        }
    }

    /// Writes `form u8 | u32 length | CMS` and, for batch, the proof fields.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(form.rawValue)
        switch self {
        case .single(let cms):
            buffer.writeBytes32(cms)
        case .batch(let proof):
            buffer.writeBytes32(proof.cms)
            buffer.writeInteger(proof.leafCount)
            buffer.writeInteger(proof.leafIndex)
            buffer.writeInteger(UInt8(proof.path.count))
            for node in proof.path { buffer.writeBytes(node.bytes) }
        }
    }

    static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> SenderSignature {
        let rawForm = try r.u8("signature form")
        guard let form = SignatureForm(rawValue: rawForm) else {
            throw r.error(.invalidValue, "unknown signature form \(rawForm)")
        }
        let cms = try r.bytes32(max: limits.maxSignatureSize, "signature")
        guard !cms.isEmpty else { throw r.error(.signatureMissing, "empty signature") }
        switch form {
        case .single:
            return .single(cms: cms)
        case .batch:
            let count = try r.u16("leaf count")
            let index = try r.u16("leaf index")
            let pathCount = try r.u8("path length")
            guard pathCount <= BatchInclusionProof.maxDepth else {
                throw r.error(.limitExceeded, "proof path of \(pathCount) nodes exceeds \(BatchInclusionProof.maxDepth)")
            }
            var path: [SHA256Digest] = []
            for i in 0..<Int(pathCount) { path.append(try r.digest("path[\(i)]")) }
            guard count <= limits.maxBatchSize else {
                throw r.error(.limitExceeded, "batch of \(count) leaves exceeds limit \(limits.maxBatchSize)")
            }
            do {
                return .batch(try BatchInclusionProof(cms: cms, leafCount: count, leafIndex: index, path: path))
            } catch let e as ProtocolError {
                throw r.error(e.code, e.message)
            }
        }
    }
}

extension SenderSignature {
    /// The bytes the sender's CMS must cover (SPEC.md §5.5): the canonical envelope (single form), or the batch root
    /// statement over the root recomputed from the envelope's digest and the inclusion proof (batch form, §5.6).
    /// Broker and recipients both verify against exactly these bytes; pass KlammerCrypto's `SHA256.hash`.
    /// - Throws: INVALID_VALUE when a batch proof's path does not fit its index and count.
    public func signedContent(of envelope: Envelope, sha256: SHA256Function) throws -> [UInt8] {
        switch self {
        case .single:
            return envelope.canonicalBytes
        case .batch(let proof):
            let root = try proof.root(envelopeDigest: envelope.digest(sha256: sha256), sha256: sha256)
            return try BatchRootStatement(leafCount: proof.leafCount, root: root).canonicalBytes
        }
    }
}
