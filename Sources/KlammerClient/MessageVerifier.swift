public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// Verifies a received message the way a recipient must before acknowledging it (SPEC.md §5.7), online or offline:
///
/// 1. the sender certificate chains to the trusted CA (and is not revoked, if CRLs are loaded);
/// 2. it names the envelope's sender (`URI:urn:klammer:participant:<id>`);
/// 3. the detached CMS verifies with exactly that certificate over the signed content — the canonical envelope
///    (single form) or the batch root statement recomputed from the envelope digest and the proof (batch form);
/// 4. the payload's length and SHA-256 equal the envelope's.
public enum MessageVerifier {
    /// The bytes the sender's CMS covers (SPEC.md §5.5).
    public static func signedContent(envelope: Envelope, signature: SenderSignature) throws(KlammerClientError) -> [UInt8] {
        do {
            return try signature.signedContent(of: envelope, sha256: SHA256.hash)
        } catch {
            throw KlammerClientError(.verificationFailed, "the batch proof does not yield a valid root statement: \(error)")
        }
    }

    /// SHA-256 of the canonical envelope bytes.
    public static func digest(of envelope: Envelope) -> SHA256Digest { envelope.digest(sha256: SHA256.hash) }

    /// Checks 1–3 (everything but the payload).
    ///
    /// - Parameters:
    ///   - signedAt: when the signature is known to have existed — the broker's acceptance time (SPEC.md §5.10). The
    ///     certificate's validity period is checked at this time, its chain and revocation status at `time`, so a
    ///     message accepted while the certificate was valid still verifies after it expired. nil: everything at `time`.
    ///   - time: now (the CRLs must be current at this time).
    public static func verifySignature(
        envelope: Envelope, signature: SenderSignature, senderCertificate: Certificate,
        trustStore: TrustStore, signedAt: Date? = nil, at time: Date = Date()
    ) throws(KlammerClientError) {
        do {
            if let signedAt {
                try trustStore.verify(senderCertificate, validAt: signedAt, revocationAt: time, purpose: .any)
            } else {
                try trustStore.verify(senderCertificate, at: time, purpose: .any)
            }
        } catch {
            let when = signedAt.map { " at the broker's acceptance time \(ISO8601DateFormatter().string(from: $0))" } ?? ""
            throw KlammerClientError(
                .verificationFailed, "the sender certificate \(senderCertificate.subject) is not trusted\(when): \(error)")
        }
        guard senderCertificate.klammerParticipantID == envelope.sender.rawValue else {
            throw KlammerClientError(
                .verificationFailed,
                "the sender certificate belongs to \(senderCertificate.klammerParticipantID ?? "no participant"), but the envelope names \(envelope.sender) as sender"
            )
        }
        let content = try signedContent(envelope: envelope, signature: signature)
        do {
            try CMS.verifyDetached(signature: signature.cms, content: content, signer: senderCertificate)
        } catch {
            throw KlammerClientError(.verificationFailed, "the sender's signature does not verify: \(error)")
        }
    }

    /// Check 4 for a computed length and digest.
    public static func verifyPayload(envelope: Envelope, length: UInt64, digest: SHA256Digest) throws(KlammerClientError) {
        guard length == envelope.payloadLength else {
            throw KlammerClientError(
                .verificationFailed, "the payload has \(length) bytes, the envelope declares \(envelope.payloadLength)")
        }
        guard digest == envelope.payloadDigest else {
            throw KlammerClientError(
                .verificationFailed,
                "the payload's SHA-256 \(digest.hex) differs from the signed one \(envelope.payloadDigest.hex); the payload was altered")
        }
    }
}
