import KlammerCrypto
import KlammerProtocol

extension Broker {
    /// Bound of the verified-batch cache (entries, one per batch in flight or recently sent).
    static let maxCachedBatches = 4096

    /// Verifies the sender signature of a submission: the single form always with one CMS verification; the batch
    /// form once per (root statement, CMS, sender) — later members of an already verified batch only need their
    /// Merkle proof to lead to the same root (`content` is the statement recomputed from this envelope and proof).
    /// A cached decision is used only while the signing certificate is still registered for the sender and passes the
    /// status check (not revoked, not expired).
    func verifySenderSignature(_ signature: SenderSignature, content: [UInt8], by sender: Participant) throws -> Certificate {
        guard case .batch = signature else {
            return try verifySignature(signature.cms, over: content, by: sender, what: "sender")
        }
        let key = VerifiedBatchCache.Key(
            statementDigest: SHA256.hash(content), signatureDigest: SHA256.hash(signature.cms),
            sender: sender.id)
        if let hit = state.withLock({ $0.verifiedBatches.lookup(key) }),
            sender.certificates.contains(where: { $0.fingerprint == hit.fingerprint })
        {
            try checkStatus(of: hit.certificate, of: sender.id, what: "sender")
            return hit.certificate
        }
        let certificate = try verifySignature(signature.cms, over: content, by: sender, what: "sender")
        let fingerprint = certificate.fingerprint.hex
        state.withLock { $0.verifiedBatches.insert(key, certificate: certificate, fingerprint: fingerprint) }
        return certificate
    }

    /// Number of batch signatures currently cached as verified (for tests and status).
    var verifiedBatchCount: Int { state.withLock { $0.verifiedBatches.count } }
}
