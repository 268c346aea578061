public import Foundation

/// The CA's record of every certificate it issued (`certificates.json` in the CA directory), written atomically.
///
/// The database, not the CRL, is the source of truth: the CRL is regenerated from it on every revocation and by
/// `pki crl`.
public struct CADatabase: Codable, Sendable, Equatable {
    /// Format version of the file.
    public static let currentVersion = 1
    /// Upper bound on records, so a corrupt or hostile file cannot make the CLI allocate without limit.
    public static let maximumCertificates = 100_000
    /// Upper bound on the file size (a record is about 500 bytes).
    public static let maximumFileSize = 64 << 20

    /// Status of an issued certificate as stored; `expired` is derived from notAfter when displayed.
    public enum Status: String, Codable, Sendable {
        case valid
        case revoked
    }

    /// One issued certificate.
    public struct Record: Codable, Sendable, Equatable {
        /// Serial number, lowercase hex (SPEC.md §3.2).
        public var serial: String
        /// Participant id, e.g. `ags:13004000`.
        public var id: String
        /// Subject common name.
        public var name: String
        /// SHA-256 fingerprint, 64 lowercase hex digits (SPEC.md §3.3).
        public var fingerprint: String
        public var notBefore: Date
        public var notAfter: Date
        /// `client` or `server`.
        public var usage: String
        /// Key type, e.g. `P-256`.
        public var keyKind: String
        public var issuedAt: Date
        public var status: Status
        public var revokedAt: Date?
        public var revocationReason: String?

        /// `valid`, `revoked` or `expired` at `now`.
        public func displayStatus(at now: Date) -> String {
            if status == .revoked { return "revoked" }
            return notAfter < now ? "expired" : "valid"
        }
    }

    public init() {}

    public var version: Int = CADatabase.currentVersion
    /// The cRLNumber of the last published CRL; the next one is larger.
    public var lastCRLNumber: UInt64 = 0
    public var certificates: [Record] = []
}
