import KlammerCrypto
public import KlammerProtocol

extension PreparedMessage {
    /// Signs many envelopes with one CMS (SPEC.md §5.5 batch form, §5.6 Merkle tree): the CMS covers the batch root
    /// statement, and each returned message carries its inclusion proof. The broker verifies the CMS once per batch
    /// and only the Merkle proof for the other members; recipients can still verify every message on its own.
    ///
    /// - Parameters:
    ///   - messages: envelopes and payloads, in batch order (1…`ProtocolLimits.Ceiling.maxBatchSize`); the
    ///     signatures they carry (if any) are replaced.
    ///   - credentials: the sender's certificate and key.
    /// - Returns: the same messages in the same order, each with a `.batch` signature.
    public static func signBatch(
        _ messages: [(envelope: Envelope, payload: PayloadSource)],
        credentials: ClientCredentials
    ) throws(KlammerClientError) -> [PreparedMessage] {
        let tree = try BatchMerkleTree(envelopeDigests: messages.map { MessageVerifier.digest(of: $0.envelope) })
        let cms: [UInt8]
        do {
            cms = try CMS.signDetached(tree.statement.canonicalBytes, certificate: credentials.certificate, key: credentials.privateKey)
        } catch {
            throw KlammerClientError(.invalidProfile, "cannot sign the batch root statement: \(error)")
        }
        var result: [PreparedMessage] = []
        result.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() {
            let proof: BatchInclusionProof
            do {
                proof = try BatchInclusionProof(
                    cms: cms, leafCount: UInt16(tree.leafCount), leafIndex: UInt16(index),
                    path: tree.path(for: index))
            } catch {
                // The tree produces exactly the path length SPEC.md §5.6 implies; anything else is a bug here.
                throw KlammerClientError(.invalidArgument, "internal error building the batch proof for member \(index): \(error)")
            }
            result.append(PreparedMessage(envelope: message.envelope, signature: .batch(proof), payload: message.payload))
        }
        return result
    }

    /// Re-signs already prepared messages as batches of at most `maxBatchSize` (one CMS per batch).
    public static func signBatches(
        _ messages: [PreparedMessage], credentials: ClientCredentials,
        maxBatchSize: Int = Int(ProtocolLimits.Ceiling.maxBatchSize)
    ) throws(KlammerClientError) -> [PreparedMessage] {
        let size = max(1, min(maxBatchSize, Int(ProtocolLimits.Ceiling.maxBatchSize)))
        var result: [PreparedMessage] = []
        result.reserveCapacity(messages.count)
        var start = 0
        while start < messages.count {
            let end = min(messages.count, start + size)
            result += try signBatch(messages[start..<end].map { ($0.envelope, $0.payload) }, credentials: credentials)
            start = end
        }
        return result
    }
}
