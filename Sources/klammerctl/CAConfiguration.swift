import Foundation

/// `ca.json`: what `pki init` created and where the CA key lives.
struct CAConfiguration: Codable {
    static let currentVersion = 1

    var version: Int = CAConfiguration.currentVersion
    /// CA common name.
    var name: String
    /// Path of the CA private key: relative to the CA directory, or absolute (`init --ca-key`).
    var keyPath: String
    /// Key type of the CA key, e.g. `P-256`.
    var keyKind: String
    /// SHA-256 fingerprint of ca.pem.
    var fingerprint: String
    var createdAt: Date
}
