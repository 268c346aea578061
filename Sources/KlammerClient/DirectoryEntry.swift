public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// A verified directory answer (SPEC.md §5.11): the encryption certificates of one participant, signed by the broker.
public struct DirectoryEntry: Sendable {
    /// A listed certificate the client will not encrypt to, and why (expired, not yet valid, revoked, no key agreement
    /// or key encipherment usage).
    public struct DroppedCertificate: Sendable {
        /// The listed certificate.
        public let certificate: Certificate
        /// Why it is not used.
        public let reason: String
    }

    /// The canonical statement the broker signed.
    public let statement: DirectoryStatement
    /// The broker's detached CMS over ``DirectoryStatement/canonicalBytes`` (keep it to re-verify a cached answer).
    public let brokerSignature: [UInt8]
    /// The participant's encryption certificates that passed the client's own checks (empty if suspended, revoked or
    /// without usable certificate): chained to the client's CA bundle, not revoked by its CRLs, valid now, usable for
    /// key agreement (EC) or key encipherment (RSA).
    public let certificates: [Certificate]
    /// Listed certificates of the right CA that failed the time, revocation or key-usage check; never encrypted to.
    public let droppedCertificates: [DroppedCertificate]

    /// The participant the answer is about.
    public var participant: ParticipantID { statement.participant }
    /// When the broker made the answer.
    public var issuedAt: Date { Date(timeIntervalSince1970: Double(statement.issuedAtMillis) / 1000) }
    /// Until when the answer may be used.
    public var validUntil: Date { Date(timeIntervalSince1970: Double(statement.validUntilMillis) / 1000) }

    /// Verifies a (possibly cached) answer: the broker's signature over the statement with `broker` (whose chain the
    /// caller trusts, e.g. the TLS-verified broker certificate), that it is about `participant`, still valid at `time`,
    /// and that every certificate parses and names `participant` in its `URI:urn:klammer:participant:` SAN.
    ///
    /// The broker's signature only proves what the broker said, so every listed certificate is also checked against
    /// the client's own `trustStore` (CA bundle and CRLs) at `time` (SPEC.md §5.11): a certificate that does not chain
    /// to a trusted CA makes the whole answer fail (whoever holds the broker key is listing a certificate of its own);
    /// one that chains but is expired, not yet valid, revoked or not usable for key agreement / key encipherment is
    /// dropped (``droppedCertificates``) and never encrypted to.
    ///
    /// - Throws: ``KlammerClientError/Kind/verificationFailed`` for any of these failures.
    public static func verify(
        statement: DirectoryStatement, signature: [UInt8], broker: Certificate,
        participant: ParticipantID, trustStore: TrustStore,
        at time: Date = Date()
    ) throws(KlammerClientError) -> DirectoryEntry {
        do {
            try CMS.verifyDetached(signature: signature, content: statement.canonicalBytes, signer: broker)
        } catch {
            throw KlammerClientError(
                .verificationFailed,
                "the broker's signature on the directory answer for \(statement.participant) does not verify with \(broker.subject): \(error)"
            )
        }
        guard statement.participant == participant else {
            throw KlammerClientError(
                .verificationFailed, "the directory answer is about \(statement.participant), not the requested \(participant)")
        }
        let nowMillis = UInt64(max(0, (time.timeIntervalSince1970 * 1000).rounded(.down)))
        guard nowMillis <= statement.validUntilMillis else {
            throw KlammerClientError(
                .verificationFailed,
                "the directory answer for \(participant) expired at \(statement.validUntilMillis) ms; look the participant up again")
        }
        var certificates: [Certificate] = []
        var dropped: [DroppedCertificate] = []
        for der in statement.certificates {
            let certificate: Certificate
            do { certificate = try Certificate(der: der) } catch {
                throw KlammerClientError(
                    .verificationFailed, "the directory answer for \(participant) contains an unreadable certificate: \(error)")
            }
            guard certificate.klammerParticipantID == participant.description else {
                throw KlammerClientError(
                    .verificationFailed,
                    "the directory answer for \(participant) lists certificate \(certificate.subject), which names participant \(certificate.klammerParticipantID ?? "none")"
                )
            }
            if let reason = try unusableReason(certificate, participant: participant, trustStore: trustStore, at: time) {
                dropped.append(DroppedCertificate(certificate: certificate, reason: reason))
            } else {
                certificates.append(certificate)
            }
        }
        return DirectoryEntry(statement: statement, brokerSignature: signature, certificates: certificates, droppedCertificates: dropped)
    }

    /// Nil if `certificate` may be encrypted to at `time`; the reason if it is to be dropped.
    /// - Throws: if it does not chain to `trustStore` at all (or the client's own CRLs are unusable).
    private static func unusableReason(
        _ certificate: Certificate, participant: ParticipantID, trustStore: TrustStore,
        at time: Date
    ) throws(KlammerClientError) -> String? {
        do {
            try trustStore.verify(certificate, at: time, purpose: .any)
        } catch let error as CryptoError {
            switch error.code {
            case .certificateExpired, .certificateNotYetValid, .certificateRevoked:
                return "\(error.message)"
            case .crlExpired, .crlNotYetValid, .crlNotFound:
                throw KlammerClientError(
                    .verificationFailed,
                    "cannot check the revocation status of \(certificate.subject), listed for \(participant): \(error); update the CRL file of the client profile (e.g. from `klammerctl pki crl`)"
                )
            default:
                throw KlammerClientError(
                    .verificationFailed,
                    "the directory answer for \(participant) lists certificate \(certificate.description), which is not issued by a CA the client trusts (\(error)); the broker (or whoever holds its key) may be trying to read the encrypted document — do not encrypt to it and tell the operator"
                )
            }
        } catch {
            throw KlammerClientError(
                .verificationFailed, "cannot verify certificate \(certificate.subject) listed for \(participant): \(error)")
        }
        guard certificate.isEncryptionCertificate(at: time) else {
            return
                "certificate \(certificate.description) does not allow key agreement (EC) or key encipherment (RSA) with a key of SPEC.md §3.1"
        }
        return nil
    }
}
