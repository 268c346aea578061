public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// A verified directory answer (SPEC.md §5.11): the encryption certificates of one participant, signed by the broker.
public struct DirectoryEntry: Sendable {
    /// The canonical statement the broker signed.
    public let statement: DirectoryStatement
    /// The broker's detached CMS over ``DirectoryStatement/canonicalBytes`` (keep it to re-verify a cached answer).
    public let brokerSignature: [UInt8]
    /// The participant's encryption certificates, parsed (empty if suspended, revoked or without usable certificate).
    public let certificates: [Certificate]

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
    /// - Throws: ``KlammerClientError/Kind/verificationFailed`` for any of these failures.
    public static func verify(statement: DirectoryStatement, signature: [UInt8], broker: Certificate,
                              participant: ParticipantID, at time: Date = Date()) throws(KlammerClientError) -> DirectoryEntry {
        do {
            try CMS.verifyDetached(signature: signature, content: statement.canonicalBytes, signer: broker)
        } catch {
            throw KlammerClientError(.verificationFailed, "the broker's signature on the directory answer for \(statement.participant) does not verify with \(broker.subject): \(error)")
        }
        guard statement.participant == participant else {
            throw KlammerClientError(.verificationFailed, "the directory answer is about \(statement.participant), not the requested \(participant)")
        }
        let nowMillis = UInt64(max(0, (time.timeIntervalSince1970 * 1000).rounded(.down)))
        guard nowMillis <= statement.validUntilMillis else {
            throw KlammerClientError(.verificationFailed, "the directory answer for \(participant) expired at \(statement.validUntilMillis) ms; look the participant up again")
        }
        var certificates: [Certificate] = []
        for der in statement.certificates {
            let certificate: Certificate
            do { certificate = try Certificate(der: der) } catch {
                throw KlammerClientError(.verificationFailed, "the directory answer for \(participant) contains an unreadable certificate: \(error)")
            }
            guard certificate.klammerParticipantID == participant.description else {
                throw KlammerClientError(.verificationFailed, "the directory answer for \(participant) lists certificate \(certificate.subject), which names participant \(certificate.klammerParticipantID ?? "none")")
            }
            certificates.append(certificate)
        }
        return DirectoryEntry(statement: statement, brokerSignature: signature, certificates: certificates)
    }
}
