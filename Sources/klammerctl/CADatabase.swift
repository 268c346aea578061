import Foundation

/// The CA's record of every certificate it issued (`certificates.json` in the CA directory), written atomically.
///
/// The database, not the CRL, is the source of truth: the CRL is regenerated from it on every revocation and by
/// `pki crl`.
struct CADatabase: Codable {
    /// Format version of the file.
    static let currentVersion = 1
    /// Upper bound on records, so a corrupt or hostile file cannot make the CLI allocate without limit.
    static let maximumCertificates = 100_000
    /// Upper bound on the file size (a record is about 500 bytes).
    static let maximumFileSize = 64 << 20

    /// Status of an issued certificate as stored; `expired` is derived from notAfter when displayed.
    enum Status: String, Codable {
        case valid
        case revoked
    }

    /// One issued certificate.
    struct Record: Codable {
        /// Serial number, lowercase hex (SPEC.md §3.2).
        var serial: String
        /// Participant id, e.g. `ags:13004000`.
        var id: String
        /// Subject common name.
        var name: String
        /// SHA-256 fingerprint, 64 lowercase hex digits (SPEC.md §3.3).
        var fingerprint: String
        var notBefore: Date
        var notAfter: Date
        /// `client` or `server`.
        var usage: String
        /// Key type, e.g. `P-256`.
        var keyKind: String
        var issuedAt: Date
        var status: Status
        var revokedAt: Date?
        var revocationReason: String?

        /// `valid`, `revoked` or `expired` at `now`.
        func displayStatus(at now: Date) -> String {
            if status == .revoked { return "revoked" }
            return notAfter < now ? "expired" : "valid"
        }
    }

    var version: Int = CADatabase.currentVersion
    /// The cRLNumber of the last published CRL; the next one is larger.
    var lastCRLNumber: UInt64 = 0
    var certificates: [Record] = []
}
