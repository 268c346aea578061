/// The asymmetric key types Klammer supports (BSI TR-02102-1 conformant choices).
///
/// `.other` describes keys found in foreign certificates that Klammer cannot use (e.g. Ed25519, P-224);
/// they can be parsed and displayed but not generated, and never meet the Klammer minimum.
public enum KeyKind: Sendable, Hashable, CustomStringConvertible {
    /// NIST P-256 (secp256r1/prime256v1); signs with ECDSA-SHA256.
    case p256
    /// NIST P-384 (secp384r1); signs with ECDSA-SHA384.
    case p384
    /// Brainpool P-256 r1 (RFC 5639); signs with ECDSA-SHA256.
    case brainpoolP256r1
    /// Brainpool P-384 r1 (RFC 5639); signs with ECDSA-SHA384.
    case brainpoolP384r1
    /// RSA with the given modulus size; signs with RSASSA-PSS, SHA-256, MGF1-SHA256, salt length 32.
    case rsa(bits: Int)
    /// A key type Klammer does not support, named as OpenSSL names it (e.g. `"ED25519"`, `"EC secp224r1"`).
    case other(String)

    public var description: String {
        switch self {
        case .p256: "P-256"
        case .p384: "P-384"
        case .brainpoolP256r1: "brainpoolP256r1"
        case .brainpoolP384r1: "brainpoolP384r1"
        case .rsa(let bits): "RSA-\(bits)"
        case .other(let name): name
        }
    }

    /// The OpenSSL group name for EC kinds.
    var groupName: String? {
        switch self {
        case .p256: "P-256"
        case .p384: "P-384"
        case .brainpoolP256r1: "brainpoolP256r1"
        case .brainpoolP384r1: "brainpoolP384r1"
        case .rsa, .other: nil
        }
    }

    /// True for the 384-bit curves, which pair with SHA-384 (BSI TR-02102-1: digest matching the curve strength).
    var uses384BitDigest: Bool {
        switch self {
        case .p384, .brainpoolP384r1: true
        default: false
        }
    }

    /// BSI TR-02102-1 minimum: RSA ≥ 3072 bits, EC ≥ 256 bits on an approved curve.
    var meetsKlammerMinimum: Bool {
        switch self {
        case .p256, .p384, .brainpoolP256r1, .brainpoolP384r1: true
        case .rsa(let bits): bits >= 3072
        case .other: false
        }
    }
}
