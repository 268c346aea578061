public import Foundation

/// `ca.json`: what `pki init` created and where the CA key lives.
public struct CAConfiguration: Codable, Sendable, Equatable {
    public static let currentVersion = 1

    public var version: Int = CAConfiguration.currentVersion
    /// CA common name.
    public var name: String
    /// Path of the CA private key: relative to the CA directory, or absolute (`init --ca-key`).
    public var keyPath: String
    /// Key type of the CA key, e.g. `P-256`.
    public var keyKind: String
    /// SHA-256 fingerprint of ca.pem.
    public var fingerprint: String
    public var createdAt: Date
}
