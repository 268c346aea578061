internal import COpenSSL
internal import COpenSSLShims

/// A private key (EVP_PKEY) of one of the ``KeyKind``s Klammer can sign with.
///
/// `@unchecked Sendable`: the wrapped EVP_PKEY is never modified after creation, and OpenSSL 3 allows
/// concurrent use of an unmodified EVP_PKEY from several threads (each operation uses its own context).
public final class PrivateKey: @unchecked Sendable {
    let storage: EVPKey

    init(taking pointer: OpaquePointer) throws {
        let storage = EVPKey(taking: pointer)  // frees the key if we throw below
        guard EVPKey.digest(for: storage.kind) != nil else {
            throw CryptoError(
                .unsupportedAlgorithm,
                "\(storage.kind) keys are not supported; use P-256, P-384, brainpoolP256r1, brainpoolP384r1 or RSA ≥ 3072")
        }
        self.storage = storage
    }

    /// Generates a fresh key.
    ///
    /// RSA sizes below 3072 bits are refused (``CryptoError/Code/weakKey``), as are sizes above 16384 bits.
    public static func generate(_ kind: KeyKind) throws -> PrivateKey {
        let algorithm: String
        switch kind {
        case .p256, .p384, .brainpoolP256r1, .brainpoolP384r1: algorithm = "EC"
        case .rsa(let bits):
            guard bits >= 3072 else {
                throw CryptoError(.weakKey, "RSA-\(bits) is below the BSI TR-02102-1 minimum; generate RSA ≥ 3072 bits or use P-256")
            }
            guard bits <= 16384, bits % 8 == 0 else {
                throw CryptoError(.invalidParameter, "RSA-\(bits) is not a sensible size; use 3072 or 4096")
            }
            algorithm = "RSA"
        case .other(let name):
            throw CryptoError(
                .unsupportedAlgorithm, "cannot generate a \(name) key; use P-256, P-384, brainpoolP256r1, brainpoolP384r1 or RSA ≥ 3072")
        }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, algorithm, nil) else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL has no \(algorithm) key generator; check the OpenSSL installation")
        }
        defer { EVP_PKEY_CTX_free(context) }
        guard EVP_PKEY_keygen_init(context) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not start \(kind) key generation")
        }
        switch kind {
        case .rsa(let bits):
            guard EVP_PKEY_CTX_set_rsa_keygen_bits(context, Int32(bits)) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "OpenSSL refused RSA key size \(bits)")
            }
        default:
            guard let group = kind.groupName, EVP_PKEY_CTX_set_group_name(context, group) == 1 else {
                throw CryptoError.openSSL(.unsupportedAlgorithm, "OpenSSL does not support curve \(kind)")
            }
        }
        var pkey: OpaquePointer? = nil
        guard EVP_PKEY_keygen(context, &pkey) == 1, let pkey else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not generate a \(kind) key")
        }
        return try PrivateKey(taking: pkey)
    }

    /// Parses a PEM private key: PKCS#8, encrypted PKCS#8 or the traditional EC/RSA forms (also with
    /// `Proc-Type: 4,ENCRYPTED`); see ``PrivateKeyPEM`` for the labels.
    ///
    /// Never prompts for a passphrase: an encrypted key without `passphrase` fails with ``CryptoError/Code/wrongPassphrase``.
    public convenience init(pem: String, passphrase: String? = nil) throws {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.privateKey, what: "private key PEM")
        try self.init(pemBytes: bytes, passphrase: passphrase, source: "the PEM")
    }

    private convenience init(pemBytes bytes: [UInt8], passphrase: String?, source: String) throws {
        ERR_clear_error()
        let pkey = try OpenSSLHelpers.withReadBIO(bytes) { bio in
            if let passphrase {
                return passphrase.withCString { klammer_pem_read_private_key(bio, $0) }
            }
            return klammer_pem_read_private_key(bio, nil)
        }
        guard let pkey else {
            let text = String(decoding: bytes.prefix(4096), as: UTF8.self)
            if text.contains("ENCRYPTED") {
                if passphrase == nil {
                    throw CryptoError.openSSL(.wrongPassphrase, "the private key in \(source) is encrypted; supply its passphrase")
                }
                throw CryptoError.openSSL(.wrongPassphrase, "cannot decrypt the private key in \(source); the passphrase is wrong")
            }
            throw CryptoError.openSSL(
                .invalidEncoding,
                "\(source) holds no readable private key; expected `\(PrivateKeyPEM.begin(PrivateKeyPEM.pkcs8Label))` (PKCS#8)")
        }
        try self.init(taking: pkey)
    }

    /// Parses an unencrypted DER private key (PKCS#8 or traditional RSA/EC).
    public convenience init(der: [UInt8]) throws {
        try InputLimits.check(der.count, limit: InputLimits.privateKey, what: "private key DER")
        ERR_clear_error()
        guard let pkey = OpenSSLHelpers.d2i(der, { d2i_AutoPrivateKey(nil, $0, $1) }) else {
            throw CryptoError.openSSL(
                .invalidEncoding, "not a DER private key; expected unencrypted PKCS#8 (`openssl pkcs8 -topk8 -nocrypt -outform DER`)")
        }
        try self.init(taking: pkey)
    }

    /// Loads a private key file, PEM (possibly encrypted) or DER.
    public static func load(fromFile path: String, passphrase: String? = nil) throws -> PrivateKey {
        let bytes = try OpenSSLHelpers.readFile(path, limit: InputLimits.privateKey, what: "private key")
        if OpenSSLHelpers.looksLikePEM(bytes) {
            return try PrivateKey(pemBytes: bytes, passphrase: passphrase, source: "file \(path)")
        }
        do {
            return try PrivateKey(der: bytes)
        } catch let error as CryptoError where error.code == .invalidEncoding {
            throw CryptoError(
                .invalidEncoding, "file \(path) holds no private key (neither PEM nor DER); check the path",
                openSSLErrors: error.openSSLErrors)
        }
    }

    /// Unencrypted PKCS#8 PEM (label ``PrivateKeyPEM/pkcs8Label``). Handle with care: this is the secret.
    public var pkcs8PEM: String {
        let bytes =
            (try? OpenSSLHelpers.writeToBIO("a private key") {
                PEM_write_bio_PKCS8PrivateKey($0, storage.pointer, nil, nil, 0, nil, nil)
            }) ?? []
        return String(decoding: bytes, as: UTF8.self)
    }

    /// PKCS#8 PEM encrypted with AES-256-CBC under `passphrase` (PBKDF2), label ``PrivateKeyPEM/encryptedPKCS8Label``.
    public func pkcs8PEM(passphrase: String) throws -> String {
        guard !passphrase.isEmpty else {
            throw CryptoError(.invalidParameter, "an empty passphrase does not protect a key; choose a non-empty passphrase")
        }
        let utf8 = Array(passphrase.utf8)
        let bytes = try utf8.withUnsafeBufferPointer { pass in
            try OpenSSLHelpers.writeToBIO("an encrypted private key") { bio in
                pass.baseAddress!.withMemoryRebound(to: CChar.self, capacity: pass.count) {
                    PEM_write_bio_PKCS8PrivateKey(bio, storage.pointer, EVP_aes_256_cbc(), $0, Int32(pass.count), nil, nil)
                }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Unencrypted PKCS#8 DER.
    public var pkcs8DER: [UInt8] {
        (try? OpenSSLHelpers.writeToBIO("a private key") { i2d_PKCS8PrivateKey_bio($0, storage.pointer, nil, nil, 0, nil, nil) }) ?? []
    }

    /// The matching public key.
    public var publicKey: PublicKey {
        // Round-trip through SubjectPublicKeyInfo so the PublicKey holds no private material.
        // Cannot fail for a key OpenSSL generated or parsed; a failure here means memory exhaustion.
        guard let spki = try? storage.spkiDER(), let key = try? PublicKey(spkiDER: spki) else {
            fatalError("OpenSSL could not export the public half of a valid \(kind) key")
        }
        return key
    }

    /// The key type and size.
    public var kind: KeyKind { storage.kind }

    /// Signs `data`: ECDSA with SHA-256 (P-256, brainpoolP256r1) or SHA-384 (P-384, brainpoolP384r1), DER-encoded
    /// `ECDSA-Sig-Value`; RSASSA-PSS with SHA-256, MGF1-SHA256 and a 32-byte salt for RSA.
    public func sign(_ data: some Sequence<UInt8>) throws -> [UInt8] {
        try data.withKlammerBytes { try storage.sign($0) }
    }

    /// True if this key is the private half of `publicKey`.
    public func matches(_ publicKey: PublicKey) -> Bool {
        defer { ERR_clear_error() }
        return EVP_PKEY_eq(storage.pointer, publicKey.pointer) == 1
    }

    /// EVP_PKEY*, borrowed; valid while this object lives.
    package var pointer: OpaquePointer { storage.pointer }
}
