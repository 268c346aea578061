public import Foundation
public import KlammerBroker
import KlammerCrypto

/// A participant as the admin API shows it (`GET /v1/participants/{id}`): the registry entry without the PEM
/// bodies, with each certificate's subject and validity for the operator.
public struct AdminParticipantView: Sendable, Equatable, Codable {
    public struct CertificateView: Sendable, Equatable, Codable {
        public var fingerprint: String
        public var subject: String
        public var serial: String
        public var notAfter: Date?
        public var addedAt: Date
    }

    public var id: String
    public var name: String
    public var status: String
    public var policy: [String]
    public var certificates: [CertificateView]
    public var createdAt: Date
    public var updatedAt: Date

    public init(_ participant: Participant) {
        id = participant.id
        name = participant.name
        status = participant.status.rawValue
        policy = participant.policy.allow
        certificates = participant.certificates.map { registered in
            let parsed = try? Certificate(pem: registered.pem)
            return CertificateView(
                fingerprint: registered.fingerprint, subject: parsed?.subject ?? "?", serial: parsed?.serialNumberHex ?? "?",
                notAfter: parsed?.notAfter, addedAt: registered.addedAt)
        }
        createdAt = participant.createdAt
        updatedAt = participant.updatedAt
    }
}
