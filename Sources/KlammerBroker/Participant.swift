public import Foundation

/// A registered authority: its id, display name, certificates (by SHA-256 fingerprint, so they can roll over),
/// status and routing policy. Value type; the registry owns the current version.
public struct Participant: Sendable, Equatable, Codable {
    /// Life-cycle status. `revoked` is terminal.
    public enum Status: String, Sendable, Codable, CaseIterable {
        case active, suspended, revoked
    }

    /// A certificate registered for the participant. The DER bytes are kept so that the broker can verify the
    /// participant's signatures against exactly the registered certificate.
    public struct RegisteredCertificate: Sendable, Equatable, Codable {
        /// Lowercase hex SHA-256 of the DER certificate.
        public var fingerprint: String
        /// The certificate in PEM form.
        public var pem: String
        public var addedAt: Date
    }

    public var id: String
    public var name: String
    public var status: Status
    public var certificates: [RegisteredCertificate]
    public var policy: RoutingPolicy
    public var createdAt: Date
    public var updatedAt: Date

    /// Whether a connection authenticated as this participant may act now.
    public var isActive: Bool { status == .active }
}
