internal import COpenSSL
internal import COpenSSLShims

/// Detached CMS SignedData (RFC 5652) signatures over documents, as Klammer participants exchange them.
///
/// Profile (SPEC.md §3): exactly one SignerInfo, signer identified by issuerAndSerialNumber, digest SHA-256
/// (SHA-384 for P-384/brainpoolP384r1 keys), ECDSA or RSASSA-PSS, signed attributes contentType,
/// messageDigest and signingTime, content detached, no certificates unless asked.
/// Interoperable with `openssl cms -sign/-verify -binary`.
public enum CMS {
    /// Creates a detached CMS SignedData over `content` (DER).
    ///
    /// - Parameters:
    ///   - embedCertificate: include the signer certificate in `certificates` (off by default: receivers look the
    ///     signer up by issuer+serial among registered participants).
    ///   - signingTime: include signed attributes (contentType, messageDigest, signingTime). `false` signs the content
    ///     directly without any signed attributes (OpenSSL cannot omit only signingTime).
    /// - Throws: ``CryptoError/Code/keyMismatch`` if `key` does not belong to `certificate`.
    public static func signDetached(
        _ content: [UInt8], certificate: Certificate, key: PrivateKey,
        embedCertificate: Bool = false, signingTime: Bool = true
    ) throws -> [UInt8] {
        // Compared with the certificate's cached EVP_PKEY: `certificate.publicKey` would DER-encode the SPKI through
        // OpenSSL 3's encoder lookup, which cost more than the ECDSA signature itself (perf, `klammer bench` W1).
        guard let certificateKey = X509_get0_pubkey(certificate.pointer), EVP_PKEY_eq(key.pointer, certificateKey) == 1 else {
            ERR_clear_error()
            throw CryptoError(.keyMismatch, "the signing key does not belong to certificate \(certificate.subject); use the key issued with that certificate")
        }
        guard let digest = EVPKey.digest(for: key.kind) else {
            throw CryptoError(.unsupportedAlgorithm, "cannot sign CMS with a \(key.kind) key")
        }
        var flags = UInt32(CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP | CMS_KEY_PARAM)
        if !embedCertificate { flags |= UInt32(CMS_NOCERTS) }
        if !signingTime { flags |= UInt32(CMS_NOATTR) }
        ERR_clear_error()
        guard let cms = CMS_sign(nil, nil, nil, nil, flags) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot create a CMS SignedData structure")
        }
        defer { CMS_ContentInfo_free(cms) }
        guard let signerInfo = CMS_add1_signer(cms, certificate.pointer, key.pointer, digest, flags) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot add the signer \(certificate.subject) to the CMS structure")
        }
        guard EVPKey.configurePadding(CMS_SignerInfo_get0_pkey_ctx(signerInfo), kind: key.kind) else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot configure RSA-PSS for the CMS signature")
        }
        try OpenSSLHelpers.withReadBIO(content) { bio in
            guard CMS_final(cms, bio, nil, flags) == 1 else {
                throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not compute the CMS signature")
            }
        }
        return try OpenSSLHelpers.i2d("the CMS signature") { i2d_CMS_ContentInfo(cms, $0) }
    }

    /// Verifies a detached CMS signature over `content` made by `signer` (no chain building: the caller has already
    /// decided to trust `signer`, e.g. because it is a registered participant certificate).
    ///
    /// - Throws: ``CryptoError/Code/invalidSignature`` if the content or signature was altered or another key signed;
    ///   ``CryptoError/Code/invalidEncoding`` for malformed input, embedded content or more than one SignerInfo;
    ///   ``CryptoError/Code/unsupportedAlgorithm`` for digests other than SHA-256/384/512;
    ///   ``CryptoError/Code/weakKey`` if `signer`'s key is below the Klammer minimum.
    public static func verifyDetached(signature: [UInt8], content: [UInt8], signer: Certificate) throws {
        guard let signerKey = X509_get0_pubkey(signer.pointer), EVPKey.kind(of: signerKey).meetsKlammerMinimum else {
            ERR_clear_error()
            throw CryptoError(.weakKey, "signer certificate \(signer.subject) has a key below BSI TR-02102-1; it cannot sign Klammer documents")
        }
        let cms = try parse(signature)
        defer { CMS_ContentInfo_free(cms) }
        if let embedded = CMS_get0_content(cms), embedded.pointee != nil {
            throw CryptoError(.invalidEncoding, "the CMS signature embeds its content; Klammer signatures are detached (`openssl cms -sign` without -nodetach)")
        }
        let signerInfo = try onlySignerInfo(cms)
        guard CMS_SignerInfo_cert_cmp(signerInfo, signer.pointer) == 0 else {
            let (issuer, serial) = (try? identifier(of: signerInfo)) ?? ("?", "?")
            throw CryptoError(.invalidSignature, "the signature was made by the certificate issuer \(issuer) serial \(serial), not by \(signer.subject) serial \(signer.serialNumberHex); look up the signer with CMS.signerIdentifier(of:)")
        }
        try checkDigest(signerInfo)

        guard let certificates = klammer_sk_X509_new_null() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a certificate stack")
        }
        defer { klammer_sk_X509_free(certificates) }  // shallow: `signer` owns its X509
        guard klammer_sk_X509_push(certificates, signer.pointer) > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot collect the signer certificate")
        }
        // NOINTERN: only the given signer certificate may be used, never one embedded by the sender.
        let flags = UInt32(CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN)
        ERR_clear_error()
        let ok = try withExtendedLifetime(signer) {
            try OpenSSLHelpers.withReadBIO(content) { bio in
                CMS_verify(cms, certificates, nil, bio, nil, flags)
            }
        }
        guard ok == 1 else {
            throw CryptoError.openSSL(.invalidSignature, "the CMS signature by \(signer.subject) does not match the content; the document or the signature was altered")
        }
    }

    /// Issuer (RFC 2253) and serial number (canonical lowercase hex, as ``Certificate/serialNumberHex``) of the first
    /// SignerInfo, to look up the registered signer certificate before calling ``verifyDetached(signature:content:signer:)``.
    public static func signerIdentifier(of signature: [UInt8]) throws -> (issuer: String, serialNumberHex: String) {
        let cms = try parse(signature)
        defer { CMS_ContentInfo_free(cms) }
        guard let infos = CMS_get0_SignerInfos(cms), klammer_sk_CMS_SignerInfo_num(infos) > 0,
              let first = klammer_sk_CMS_SignerInfo_value(infos, 0) else {
            throw CryptoError(.invalidEncoding, "the CMS signature has no SignerInfo")
        }
        return try identifier(of: first)
    }

    // MARK: - Internals

    /// Parses DER CMS and checks it is SignedData. Caller frees with CMS_ContentInfo_free.
    private static func parse(_ signature: [UInt8]) throws -> OpaquePointer {
        try InputLimits.check(signature.count, limit: InputLimits.cmsSignature, what: "CMS signature")
        ERR_clear_error()
        guard let cms = OpenSSLHelpers.d2i(signature, { d2i_CMS_ContentInfo(nil, $0, $1) }) else {
            throw CryptoError.openSSL(.invalidEncoding, "not a DER CMS structure; expected a detached SignedData (`openssl cms -sign -binary -outform DER`)")
        }
        guard let type = CMS_get0_type(cms), OBJ_obj2nid(type) == NID_pkcs7_signed else {
            CMS_ContentInfo_free(cms)
            throw CryptoError(.invalidEncoding, "the CMS structure is not SignedData")
        }
        return cms
    }

    private static func onlySignerInfo(_ cms: OpaquePointer) throws -> OpaquePointer {
        guard let infos = CMS_get0_SignerInfos(cms) else {
            throw CryptoError(.invalidEncoding, "the CMS signature has no SignerInfo")
        }
        let count = klammer_sk_CMS_SignerInfo_num(infos)
        guard count == 1, let info = klammer_sk_CMS_SignerInfo_value(infos, 0) else {
            throw CryptoError(.invalidEncoding, "the CMS signature has \(count) SignerInfos; Klammer signatures have exactly one")
        }
        return info
    }

    private static func identifier(of signerInfo: OpaquePointer) throws -> (issuer: String, serialNumberHex: String) {
        var keyID: UnsafeMutablePointer<ASN1_OCTET_STRING>? = nil
        var issuer: OpaquePointer? = nil
        var serial: UnsafeMutablePointer<ASN1_INTEGER>? = nil
        guard CMS_SignerInfo_get0_signer_id(signerInfo, &keyID, &issuer, &serial) == 1 else {
            throw CryptoError.openSSL(.invalidEncoding, "cannot read the signer identifier")
        }
        guard let issuer, let serial else {
            throw CryptoError(.unsupportedAlgorithm, "the signer is identified by subjectKeyIdentifier; Klammer requires issuerAndSerialNumber (do not use `openssl cms -keyid`)")
        }
        return (OpenSSLHelpers.nameString(issuer), OpenSSLHelpers.serialHex(serial))
    }

    private static func checkDigest(_ signerInfo: OpaquePointer) throws {
        var digestAlgorithm: UnsafeMutablePointer<X509_ALGOR>? = nil
        CMS_SignerInfo_get0_algs(signerInfo, nil, nil, &digestAlgorithm, nil)
        var object: OpaquePointer? = nil
        if let digestAlgorithm {
            X509_ALGOR_get0(&object, nil, nil, digestAlgorithm)
        }
        let nid = object.map { OBJ_obj2nid($0) } ?? NID_undef
        guard [NID_sha256, NID_sha384, NID_sha512].contains(nid) else {
            let name = OBJ_nid2sn(nid).map { String(cString: $0) } ?? "unknown"
            throw CryptoError(.unsupportedAlgorithm, "the CMS signature uses digest \(name); Klammer accepts SHA-256, SHA-384 or SHA-512 (`openssl cms -sign -md sha256`)")
        }
    }
}
