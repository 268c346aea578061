internal import COpenSSL
internal import COpenSSLShims

/// Owns one reference to an EVP_PKEY and frees it exactly once.
///
/// `@unchecked Sendable` is sound because the key is never mutated after construction: OpenSSL 3 documents
/// EVP_PKEY as safe for concurrent use by several threads as long as nobody modifies it, and every
/// sign/verify creates its own EVP_MD_CTX/EVP_PKEY_CTX. (Internal caches inside EVP_PKEY are lock-protected.)
final class EVPKey: @unchecked Sendable {
    let pointer: OpaquePointer
    let kind: KeyKind

    /// Takes ownership of `pointer` (one reference).
    init(taking pointer: OpaquePointer) {
        self.pointer = pointer
        self.kind = EVPKey.kind(of: pointer)
    }

    deinit { EVP_PKEY_free(pointer) }

    var bits: Int { Int(EVP_PKEY_get_bits(pointer)) }

    static func kind(of pkey: OpaquePointer) -> KeyKind {
        let id = EVP_PKEY_get_base_id(pkey)
        if id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS {
            return .rsa(bits: Int(EVP_PKEY_get_bits(pkey)))
        }
        if id == EVP_PKEY_EC {
            var buffer = [CChar](repeating: 0, count: 80)
            var length = 0
            guard EVP_PKEY_get_group_name(pkey, &buffer, buffer.count, &length) == 1 else {
                ERR_clear_error()
                return .other("EC (explicit parameters)")
            }
            let name = String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            switch name {
            case "prime256v1", "P-256", "secp256r1": return .p256
            case "secp384r1", "P-384": return .p384
            case "brainpoolP256r1": return .brainpoolP256r1
            case "brainpoolP384r1": return .brainpoolP384r1
            default: return .other("EC \(name)")
            }
        }
        if let name = OBJ_nid2sn(id) {
            return .other(String(cString: name))
        }
        return .other("unknown key type \(id)")
    }

    /// The digest Klammer pairs with this key kind, or nil if the kind cannot sign in Klammer.
    static func digest(for kind: KeyKind) -> OpaquePointer? {
        switch kind {
        case .p256, .brainpoolP256r1, .rsa: FetchedDigest.sha256.pointer
        case .p384, .brainpoolP384r1: FetchedDigest.sha384.pointer
        case .other: nil
        }
    }

    /// Configures an EVP_PKEY_CTX from EVP_DigestSign/VerifyInit for Klammer's RSA scheme: PSS, salt = digest length.
    /// No-op for EC keys. Returns false if OpenSSL refused.
    static func configurePadding(_ pctx: OpaquePointer?, kind: KeyKind) -> Bool {
        guard case .rsa = kind else { return true }
        guard let pctx else { return false }
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
            && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1
    }

    /// A new EVP_MD_CTX initialised for signing with Klammer's scheme for this key (caller frees).
    func makeSignContext() throws -> OpaquePointer {
        guard let digest = EVPKey.digest(for: kind) else {
            throw CryptoError(
                .unsupportedAlgorithm, "cannot sign with a \(kind) key; use P-256, P-384, brainpoolP256r1/P384r1 or RSA ≥ 3072")
        }
        guard let context = EVP_MD_CTX_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a digest context; the process may be out of memory")
        }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestSignInit(context, &pctx, digest, nil, pointer) == 1,
            EVPKey.configurePadding(pctx, kind: kind)
        else {
            EVP_MD_CTX_free(context)
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not initialise signing with a \(kind) key")
        }
        return context
    }

    func sign(_ data: UnsafeRawBufferPointer) throws -> [UInt8] {
        let context = try makeSignContext()
        defer { EVP_MD_CTX_free(context) }
        let base = data.baseAddress?.assumingMemoryBound(to: UInt8.self)
        var length = 0
        guard EVP_DigestSign(context, nil, &length, base, data.count) == 1, length > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not size a \(kind) signature")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, base, data.count) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not create a \(kind) signature")
        }
        signature.removeSubrange(length...)  // ECDSA signatures are variable length; the first call gives the maximum
        return signature
    }

    func verify(signature: UnsafeRawBufferPointer, data: UnsafeRawBufferPointer) -> Bool {
        guard let digest = EVPKey.digest(for: kind), let context = EVP_MD_CTX_new() else { return false }
        defer {
            EVP_MD_CTX_free(context)
            ERR_clear_error()  // a failed verification leaves decode errors behind; they are not news to the caller
        }
        var pctx: OpaquePointer? = nil
        guard EVP_DigestVerifyInit(context, &pctx, digest, nil, pointer) == 1,
            EVPKey.configurePadding(pctx, kind: kind)
        else { return false }
        return EVP_DigestVerify(
            context,
            signature.baseAddress?.assumingMemoryBound(to: UInt8.self), signature.count,
            data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count) == 1
    }

    /// SubjectPublicKeyInfo DER of this key.
    func spkiDER() throws -> [UInt8] {
        try OpenSSLHelpers.i2d("a public key") { i2d_PUBKEY(pointer, $0) }
    }
}

extension Sequence<UInt8> {
    /// Runs `body` over contiguous bytes, copying only if the sequence is not contiguous already.
    func withKlammerBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let result = try withContiguousStorageIfAvailable({ try body(UnsafeRawBufferPointer($0)) }) {
            return result
        }
        return try Array(self).withUnsafeBytes(body)
    }
}
