public import Foundation

/// One certificate as `pki list`, `pki expiring` and `pki issue --json` show it.
public struct ListedCertificate: Encodable, Sendable, Equatable {
    public let id: String
    public let name: String
    public let serial: String
    public let fingerprint: String
    public let notBefore: Date
    public let notAfter: Date
    /// `valid`, `revoked` or `expired`.
    public let status: String
    public let revokedAt: Date?
    public let revocationReason: String?
    public let usage: String
    public let keyKind: String

    public init(_ record: CADatabase.Record, at now: Date) {
        id = record.id
        name = record.name
        serial = record.serial
        fingerprint = record.fingerprint
        notBefore = record.notBefore
        notAfter = record.notAfter
        status = record.displayStatus(at: now)
        revokedAt = record.revokedAt
        revocationReason = record.revocationReason
        usage = record.usage
        keyKind = record.keyKind
    }
}
