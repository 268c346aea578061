internal import COpenSSL
internal import COpenSSLShims

/// Detached CMS SignedData (RFC 5652) signatures over documents, as Klammer participants exchange them.
///
/// Profile (SPEC.md §3): exactly one SignerInfo, signer identified by issuerAndSerialNumber, digest SHA-256
/// (SHA-384 for P-384/brainpoolP384r1 keys), ECDSA or RSASSA-PSS, signed attributes contentType,
/// messageDigest and signingTime, content detached, no certificates; verification enforces exactly this profile.
/// Interoperable with `openssl cms -sign/-verify -binary`.
public enum CMS {
    /// Creates a detached CMS SignedData over `content` (DER).
    ///
    /// - Parameters:
    ///   - embedCertificate: include the signer certificate in `certificates` (off by default: receivers look the
    ///     signer up by issuer+serial among registered participants).
    ///   - signingTime: include signed attributes (contentType, messageDigest, signingTime). `false` signs the content
    ///     directly without any signed attributes (OpenSSL cannot omit only signingTime).
    ///   Either non-default value gives a signature outside the profile of SPEC.md §3.5, which ``verifyDetached(signature:content:signer:)``
    ///   refuses (``CryptoError/Code/profileViolation``); they exist for interoperability tests.
    /// - Throws: ``CryptoError/Code/keyMismatch`` if `key` does not belong to `certificate`.
    public static func signDetached(
        _ content: [UInt8], certificate: Certificate, key: PrivateKey,
        embedCertificate: Bool = false, signingTime: Bool = true
    ) throws -> [UInt8] {
        // Compared with the certificate's cached EVP_PKEY: `certificate.publicKey` would DER-encode the SPKI through
        // OpenSSL 3's encoder lookup, which cost more than the ECDSA signature itself (perf, `klammer bench` W1).
        guard let certificateKey = X509_get0_pubkey(certificate.pointer), EVP_PKEY_eq(key.pointer, certificateKey) == 1 else {
            ERR_clear_error()
            throw CryptoError(
                .keyMismatch,
                "the signing key does not belong to certificate \(certificate.subject); use the key issued with that certificate")
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
            throw CryptoError(
                .weakKey, "signer certificate \(signer.subject) has a key below BSI TR-02102-1; it cannot sign Klammer documents")
        }
        let cms = try parse(signature)
        defer { CMS_ContentInfo_free(cms) }
        if let embedded = CMS_get0_content(cms), embedded.pointee != nil {
            throw CryptoError(
                .profileViolation,
                "the CMS signature embeds its content; Klammer signatures are detached (`openssl cms -sign` without -nodetach)")
        }
        let signerInfo = try onlySignerInfo(cms)
        guard CMS_SignerInfo_cert_cmp(signerInfo, signer.pointer) == 0 else {
            let (issuer, serial) = (try? identifier(of: signerInfo)) ?? ("?", "?")
            throw CryptoError(
                .invalidSignature,
                "the signature was made by the certificate issuer \(issuer) serial \(serial), not by \(signer.subject) serial \(signer.serialNumberHex); look up the signer with CMS.signerIdentifier(of:)"
            )
        }
        try checkProfile(cms, signerInfo, signerKind: EVPKey.kind(of: signerKey))

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
            throw CryptoError.openSSL(
                .invalidSignature,
                "the CMS signature by \(signer.subject) does not match the content; the document or the signature was altered")
        }
    }

    /// Issuer (RFC 2253) and serial number (canonical lowercase hex, as ``Certificate/serialNumberHex``) of the first
    /// SignerInfo, to look up the registered signer certificate before calling ``verifyDetached(signature:content:signer:)``.
    public static func signerIdentifier(of signature: [UInt8]) throws -> (issuer: String, serialNumberHex: String) {
        let cms = try parse(signature)
        defer { CMS_ContentInfo_free(cms) }
        guard let infos = CMS_get0_SignerInfos(cms), klammer_sk_CMS_SignerInfo_num(infos) > 0,
            let first = klammer_sk_CMS_SignerInfo_value(infos, 0)
        else {
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
            throw CryptoError.openSSL(
                .invalidEncoding, "not a DER CMS structure; expected a detached SignedData (`openssl cms -sign -binary -outform DER`)")
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
            throw CryptoError(.profileViolation, "the CMS signature has \(count) SignerInfos; Klammer signatures have exactly one")
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
            throw CryptoError(
                .profileViolation,
                "the signer is identified by subjectKeyIdentifier; Klammer requires issuerAndSerialNumber (do not use `openssl cms -keyid`)"
            )
        }
        return (OpenSSLHelpers.nameString(issuer), OpenSSLHelpers.serialHex(serial))
    }

    /// The rest of the signature profile of SPEC.md §3.5, so a verifier never accepts more than Klammer produces:
    /// no certificates or CRLs, signed attributes with contentType and messageDigest, the digest of the signer's key
    /// (SHA-256 for P-256/brainpoolP256r1/RSA, SHA-384 for P-384/brainpoolP384r1), ECDSA with that digest or
    /// RSASSA-PSS (SHA-256, MGF1-SHA-256, salt 32). Each violation says what was found and what is expected.
    private static func checkProfile(_ cms: OpaquePointer, _ signerInfo: OpaquePointer, signerKind: KeyKind) throws {
        func violation(_ what: String) -> CryptoError {
            CryptoError(
                .profileViolation,
                "the CMS signature \(what) (SPEC.md §3.5; create it with `openssl cms -sign -binary -nocerts -md sha256`, or sha384 for P-384 keys)"
            )
        }
        if let certificates = CMS_get1_certs(cms) {
            let count = klammer_sk_X509_num(certificates)
            klammer_sk_X509_pop_free(certificates)
            if count > 0 {
                throw violation(
                    "embeds \(count) certificate(s); Klammer signatures carry none (verifiers use only the registered certificate)")
            }
        }
        if let crls = CMS_get1_crls(cms) {
            let count = klammer_sk_X509_CRL_num(crls)
            klammer_sk_X509_CRL_pop_free(crls)
            if count > 0 { throw violation("embeds \(count) CRL(s); Klammer signatures carry none") }
        }
        ERR_clear_error()
        guard CMS_signed_get_attr_count(signerInfo) > 0 else {
            throw violation("has no signed attributes; Klammer signatures carry contentType, signingTime and messageDigest")
        }
        guard CMS_signed_get_attr_by_NID(signerInfo, NID_pkcs9_contentType, -1) >= 0,
            CMS_signed_get_attr_by_NID(signerInfo, NID_pkcs9_messageDigest, -1) >= 0
        else {
            throw violation("lacks the contentType or messageDigest signed attribute")
        }
        ERR_clear_error()

        var digestAlgorithm: UnsafeMutablePointer<X509_ALGOR>? = nil
        var signatureAlgorithm: UnsafeMutablePointer<X509_ALGOR>? = nil
        CMS_SignerInfo_get0_algs(signerInfo, nil, nil, &digestAlgorithm, &signatureAlgorithm)
        let digest = algorithmNID(digestAlgorithm)
        let expected: Int32
        switch signerKind {
        case .p384, .brainpoolP384r1: expected = NID_sha384
        default: expected = NID_sha256
        }
        guard digest == expected else {
            throw violation(
                "uses digest \(shortName(digest)) with a \(signerKind) key; Klammer requires \(shortName(expected)) for this key")
        }
        let signatureNID = algorithmNID(signatureAlgorithm)
        if case .rsa = signerKind {
            guard signatureNID == NID_rsassaPss else {
                throw violation(
                    "uses \(shortName(signatureNID)) (RSA PKCS#1 v1.5); Klammer requires RSASSA-PSS (`-keyopt rsa_padding_mode:pss -keyopt rsa_pss_saltlen:digest`)"
                )
            }
            try checkPSSParameters(signatureAlgorithm, violation: violation)
        } else {
            let ecdsa = expected == NID_sha384 ? NID_ecdsa_with_SHA384 : NID_ecdsa_with_SHA256
            guard signatureNID == ecdsa else {
                throw violation(
                    "uses signature algorithm \(shortName(signatureNID)); Klammer requires \(shortName(ecdsa)) for a \(signerKind) key")
            }
        }
    }

    /// RSASSA-PSS parameters must be SHA-256, MGF1 with SHA-256 and salt length 32 (SPEC.md §3.1).
    private static func checkPSSParameters(_ algorithm: UnsafeMutablePointer<X509_ALGOR>?, violation: (String) -> CryptoError) throws {
        var type: Int32 = 0
        var value: UnsafeRawPointer? = nil
        if let algorithm { X509_ALGOR_get0(nil, &type, &value, algorithm) }
        guard type == V_ASN1_SEQUENCE, let value else {
            throw violation("uses RSASSA-PSS without parameters (default SHA-1); Klammer requires SHA-256, MGF1-SHA-256, salt 32")
        }
        let sequence = value.assumingMemoryBound(to: ASN1_STRING.self)
        guard let bytes = ASN1_STRING_get0_data(sequence) else {
            throw violation("has unreadable RSASSA-PSS parameters")
        }
        var cursor: UnsafePointer<UInt8>? = bytes
        guard let parameters = d2i_RSA_PSS_PARAMS(nil, &cursor, Int(ASN1_STRING_length(sequence))) else {
            ERR_clear_error()
            throw violation("has unreadable RSASSA-PSS parameters")
        }
        defer { RSA_PSS_PARAMS_free(parameters) }
        // Absent fields mean the RFC 4055 defaults: SHA-1, MGF1-SHA-1, salt 20.
        let hash = parameters.pointee.hashAlgorithm.map { algorithmNID($0) } ?? NID_sha1
        let mask = try maskHashNID(parameters.pointee.maskGenAlgorithm, violation: violation)
        let salt = parameters.pointee.saltLength.map { ASN1_INTEGER_get($0) } ?? 20
        guard hash == NID_sha256, mask == NID_sha256, salt == 32 else {
            throw violation(
                "uses RSASSA-PSS with hash \(shortName(hash)), MGF1-\(shortName(mask)), salt \(salt); Klammer requires SHA-256, MGF1-SHA-256, salt 32"
            )
        }
    }

    /// The hash of an MGF1 mask generation AlgorithmIdentifier (absent: SHA-1, the RFC 4055 default).
    private static func maskHashNID(_ algorithm: UnsafeMutablePointer<X509_ALGOR>?, violation: (String) -> CryptoError) throws -> Int32 {
        guard let algorithm else { return NID_sha1 }
        var object: OpaquePointer? = nil
        var type: Int32 = 0
        var value: UnsafeRawPointer? = nil
        X509_ALGOR_get0(&object, &type, &value, algorithm)
        guard let object, OBJ_obj2nid(object) == NID_mgf1, type == V_ASN1_SEQUENCE, let value else {
            throw violation("uses an RSASSA-PSS mask generation other than MGF1 with a hash")
        }
        let sequence = value.assumingMemoryBound(to: ASN1_STRING.self)
        var cursor: UnsafePointer<UInt8>? = ASN1_STRING_get0_data(sequence)
        guard let hash = d2i_X509_ALGOR(nil, &cursor, Int(ASN1_STRING_length(sequence))) else {
            ERR_clear_error()
            throw violation("has unreadable RSASSA-PSS MGF1 parameters")
        }
        defer { X509_ALGOR_free(hash) }
        return algorithmNID(hash)
    }

    private static func algorithmNID(_ algorithm: UnsafeMutablePointer<X509_ALGOR>?) -> Int32 {
        guard let algorithm else { return NID_undef }
        var object: OpaquePointer? = nil
        X509_ALGOR_get0(&object, nil, nil, algorithm)
        return object.map { OBJ_obj2nid($0) } ?? NID_undef
    }

    private static func shortName(_ nid: Int32) -> String {
        OBJ_nid2sn(nid).map { String(cString: $0) } ?? "an unknown algorithm"
    }
}
