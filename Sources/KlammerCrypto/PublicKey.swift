internal import COpenSSL
internal import COpenSSLShims

/// A public key (from a certificate, a private key or SubjectPublicKeyInfo DER/PEM).
///
/// Immutable; equality and hashing are by SubjectPublicKeyInfo DER.
public struct PublicKey: Sendable, Hashable {
    let storage: EVPKey
    /// SubjectPublicKeyInfo DER, computed once.
    public let spkiDER: [UInt8]

    /// Wraps an owned EVP_PKEY reference.
    init(taking pointer: OpaquePointer) throws {
        self.storage = EVPKey(taking: pointer)
        self.spkiDER = try storage.spkiDER()
    }

    /// Parses SubjectPublicKeyInfo DER.
    public init(spkiDER der: [UInt8]) throws {
        try InputLimits.check(der.count, limit: InputLimits.privateKey, what: "public key DER")
        guard let pkey = OpenSSLHelpers.d2i(der, { d2i_PUBKEY(nil, $0, $1) }) else {
            throw CryptoError.openSSL(
                .invalidEncoding, "not a DER SubjectPublicKeyInfo; expected the output of `openssl pkey -pubout -outform DER`")
        }
        try self.init(taking: pkey)
    }

    /// Parses a `-----BEGIN PUBLIC KEY-----` PEM.
    public init(pem: String) throws {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.privateKey, what: "public key PEM")
        let pkey = try OpenSSLHelpers.withReadBIO(bytes) { PEM_read_bio_PUBKEY($0, nil, nil, nil) }
        guard let pkey else {
            throw CryptoError.openSSL(
                .invalidEncoding, "not a PEM public key; expected `-----BEGIN PUBLIC KEY-----` as written by `openssl pkey -pubout`")
        }
        try self.init(taking: pkey)
    }

    /// The key type and size.
    public var kind: KeyKind { storage.kind }

    /// The key size in bits (modulus for RSA, field size for EC).
    public var bits: Int { storage.bits }

    /// True if the key meets BSI TR-02102-1 as Klammer applies it: RSA ≥ 3072 bits, EC ≥ 256 bits on
    /// P-256/P-384/brainpoolP256r1/brainpoolP384r1. False for everything else.
    public var meetsKlammerMinimum: Bool { storage.kind.meetsKlammerMinimum }

    /// `-----BEGIN PUBLIC KEY-----` PEM of the SubjectPublicKeyInfo.
    public var pemString: String {
        let bytes = (try? OpenSSLHelpers.writeToBIO("a public key") { PEM_write_bio_PUBKEY($0, storage.pointer) }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Verifies a signature made with Klammer's scheme for this key kind (see ``PrivateKey/sign(_:)``).
    /// Returns false for a wrong, malformed or truncated signature, and for unsupported key kinds.
    public func verify(signature: [UInt8], for data: [UInt8]) -> Bool {
        signature.withUnsafeBytes { sig in data.withUnsafeBytes { storage.verify(signature: sig, data: $0) } }
    }

    /// Verifies a signature over any byte sequence (e.g. `Data`).
    public func verify(signature: [UInt8], for data: some Sequence<UInt8>) -> Bool {
        signature.withUnsafeBytes { sig in data.withKlammerBytes { storage.verify(signature: sig, data: $0) } }
    }

    /// EVP_PKEY*, borrowed; valid while this value lives.
    package var pointer: OpaquePointer { storage.pointer }

    public static func == (lhs: PublicKey, rhs: PublicKey) -> Bool { lhs.spkiDER == rhs.spkiDER }
    public func hash(into hasher: inout Hasher) { hasher.combine(spkiDER) }
}
