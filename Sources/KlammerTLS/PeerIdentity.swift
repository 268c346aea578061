public import KlammerCrypto

/// Who is on the other end of a verified TLS connection.
///
/// The identity is ``fingerprint`` (SHA-256 of the DER leaf certificate), never a parsed subject DN string.
public struct PeerIdentity: Sendable, Hashable, CustomStringConvertible {
    /// SHA-256 of the peer's DER-encoded leaf certificate: the identity the registry/authorizer works with.
    public let fingerprint: CertificateFingerprint
    /// The peer's verified leaf certificate.
    public let certificate: Certificate
    /// The negotiated ALPN protocol, if any.
    public let applicationProtocol: String?
    /// The negotiated protocol version.
    public let protocolVersion: TLSVersion
    /// The negotiated cipher suite (OpenSSL/IANA name, e.g. `TLS_AES_256_GCM_SHA384`).
    public let cipherSuite: String

    public var description: String {
        "\(fingerprint) (\(protocolVersion), \(cipherSuite), ALPN \(applicationProtocol ?? "none"))"
    }
}
