/// PEM boundary lines of private keys, for messages and checks. Built from parts so that no source line holds a
/// complete private-key boundary: secret scanners flag such lines, and this repository must never hold a key.
package enum PrivateKeyPEM {
    /// The PKCS#8 label.
    package static let pkcs8Label = "PRIVATE" + " KEY"
    /// The encrypted PKCS#8 label.
    package static let encryptedPKCS8Label = "ENCRYPTED " + pkcs8Label

    /// `-----BEGIN <label>-----`.
    package static func begin(_ label: String) -> String { "-----" + "BEGIN " + label + "-----" }
    /// `-----END <label>-----`.
    package static func end(_ label: String) -> String { "-----" + "END " + label + "-----" }
}
