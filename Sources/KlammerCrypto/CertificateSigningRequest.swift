internal import COpenSSL
internal import COpenSSLShims
internal import Foundation

/// A PKCS#10 certificate signing request (wraps an OpenSSL `X509_REQ*`).
///
/// A CA uses only the request's public key (after checking the self-signature proves possession of the private
/// key); subject, attributes and requested extensions are informational and never copied into a certificate —
/// the operator decides the name and the participant id.
///
/// `@unchecked Sendable` is sound because the `X509_REQ` is never modified after parsing.
public final class CertificateSigningRequest: @unchecked Sendable {
    /// X509_REQ*, owned; freed in deinit.
    private let request: OpaquePointer
    /// The DER encoding.
    public let derBytes: [UInt8]

    /// Takes ownership of `request`; frees it if this initialiser throws.
    init(taking request: OpaquePointer) throws {
        let der: [UInt8]
        do {
            der = try OpenSSLHelpers.i2d("a certificate signing request") { i2d_X509_REQ(request, $0) }
        } catch {
            X509_REQ_free(request)
            throw error
        }
        self.request = request
        self.derBytes = der
    }

    deinit { X509_REQ_free(request) }

    /// Parses a PEM CSR (`-----BEGIN CERTIFICATE REQUEST-----`, as written by `openssl req -new`).
    public convenience init(pem: String) throws {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.certificate, what: "certificate signing request PEM")
        ERR_clear_error()
        let request = try OpenSSLHelpers.withReadBIO(bytes) { PEM_read_bio_X509_REQ($0, nil, nil, nil) }
        guard let request else {
            throw CryptoError.openSSL(
                .invalidEncoding,
                "not a PEM certificate signing request; expected `-----BEGIN CERTIFICATE REQUEST-----` as written by `openssl req -new`")
        }
        try self.init(taking: request)
    }

    /// Parses a DER CSR; trailing bytes are refused.
    public convenience init(der: [UInt8]) throws {
        try InputLimits.check(der.count, limit: InputLimits.certificate, what: "certificate signing request DER")
        ERR_clear_error()
        var consumed = 0
        let request = OpenSSLHelpers.d2i(der) { cursor, count -> OpaquePointer? in
            let start = cursor.pointee
            let r = d2i_X509_REQ(nil, cursor, count)
            if let start, let end = cursor.pointee { consumed = end - start }
            return r
        }
        guard let request else {
            throw CryptoError.openSSL(
                .invalidEncoding, "not a DER certificate signing request; check that the input is PKCS#10 (e.g. `openssl req -outform DER`)"
            )
        }
        guard consumed == der.count else {
            X509_REQ_free(request)
            throw CryptoError(
                .invalidEncoding, "certificate signing request DER has \(der.count - consumed) trailing bytes; pass exactly one request")
        }
        try self.init(taking: request)
    }

    /// Loads a CSR file, PEM or DER (at most 1 MiB).
    public static func load(fromFile path: String) throws -> CertificateSigningRequest {
        let bytes = try OpenSSLHelpers.readFile(path, limit: InputLimits.certificate, what: "certificate signing request")
        if OpenSSLHelpers.looksLikePEM(bytes) {
            return try CertificateSigningRequest(pem: String(decoding: bytes, as: UTF8.self))
        }
        return try CertificateSigningRequest(der: bytes)
    }

    /// PEM encoding (`-----BEGIN CERTIFICATE REQUEST-----`).
    public var pemString: String { PEM.encode(derBytes, label: "CERTIFICATE REQUEST") }

    /// Subject distinguished name, RFC 2253 one-line form (may be empty).
    public var subject: String { OpenSSLHelpers.nameString(X509_REQ_get_subject_name(request)) }

    /// The (last) commonName of the subject, if any.
    public var commonName: String? {
        guard let name = X509_REQ_get_subject_name(request) else { return nil }
        let index = X509_NAME_get_index_by_NID(name, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(name, index),
            let data = X509_NAME_ENTRY_get_data(entry)
        else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>? = nil
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { klammer_openssl_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// The requested public key.
    /// - Throws: ``CryptoError/Code/unsupportedAlgorithm`` if OpenSSL does not know the key algorithm.
    public func publicKey() throws -> PublicKey {
        guard let pkey = X509_REQ_get_pubkey(request) else {
            ERR_clear_error()
            throw CryptoError(
                .unsupportedAlgorithm,
                "the request's public key algorithm is unknown to OpenSSL; Klammer supports EC (P-256/P-384/brainpool) and RSA ≥ 3072 keys")
        }
        return try PublicKey(taking: pkey)
    }

    /// Checks the self-signature (proof of possession of the private key) and refuses SHA-1/MD5 signatures.
    /// - Throws: ``CryptoError/Code/invalidSignature`` if the signature does not verify or uses a broken digest.
    public func verifySelfSignature() throws {
        let nid = X509_REQ_get_signature_nid(request)
        var digestNID: Int32 = NID_undef
        var keyNID: Int32 = NID_undef
        if OBJ_find_sigid_algs(nid, &digestNID, &keyNID) == 1,
            [NID_sha1, NID_md5, NID_md4, NID_md2, NID_ripemd160].contains(digestNID)
        {
            throw CryptoError(
                .invalidSignature,
                "the request is signed with \(String(cString: OBJ_nid2sn(digestNID))), which Klammer does not accept; create it again with SHA-256 (`openssl req -new -sha256`)"
            )
        }
        guard let pkey = X509_REQ_get0_pubkey(request) else {
            ERR_clear_error()
            throw CryptoError(
                .unsupportedAlgorithm, "the request's public key algorithm is unknown to OpenSSL; Klammer supports EC and RSA keys")
        }
        ERR_clear_error()
        guard X509_REQ_verify(request, pkey) == 1 else {
            throw CryptoError.openSSL(
                .invalidSignature,
                "the request's self-signature does not verify; it was altered or not signed with the key it contains — ask the participant for a fresh CSR"
            )
        }
    }
}
