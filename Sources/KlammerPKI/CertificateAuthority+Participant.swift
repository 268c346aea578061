public import Foundation
public import KlammerCrypto

extension CertificateAuthority {
    /// A certificate that identifies participant `id` (SAN `URI:urn:klammer:participant:<id>`, SPEC.md §3.2):
    /// what `klammerctl pki issue` and dev mode's demo participants get.
    public func issueParticipant(
        id: String, name: String, organization: String?, publicKey: PublicKey, usage: Usage,
        notAfter: Date = .now + 365 * 86400
    ) throws -> Certificate {
        try issue(
            commonName: name, organization: organization, subjectAlternativeNames: [Self.participantURIPrefix + id],
            publicKey: publicKey, usage: usage, notAfter: notAfter)
    }
}
