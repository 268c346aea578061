internal import COpenSSL
internal import COpenSSLShims
internal import Foundation

/// An X.509 certificate (wraps an OpenSSL `X509*`).
///
/// All fields are read from the parsed certificate; equality and hashing are by DER encoding.
///
/// `@unchecked Sendable` is sound because the `X509` is never modified after parsing: the DER, fingerprint
/// and OpenSSL's cached extension data (computed eagerly in `init` via `X509_check_purpose`) are fixed,
/// and OpenSSL allows concurrent read-only use of an `X509` from several threads.
public final class Certificate: Hashable, @unchecked Sendable {
    /// X509*, owned; freed in deinit.
    private let x509: OpaquePointer
    /// The DER encoding, computed once at parse time.
    public let derBytes: [UInt8]
    /// SHA-256 of ``derBytes``.
    public let fingerprint: CertificateFingerprint

    /// Takes ownership of one reference to `x509`; frees it if this initialiser throws
    /// (a class whose initialiser throws never runs `deinit`, so the failure paths must free explicitly).
    package init(taking x509: OpaquePointer) throws {
        // OpenSSL parses certificates whose key algorithm it does not know (e.g. post-quantum OIDs) and leaves the key
        // empty; refusing them here keeps `publicKey` total instead of failing later at an arbitrary use site.
        guard X509_get0_pubkey(x509) != nil else {
            X509_free(x509)
            ERR_clear_error()
            throw CryptoError(
                .unsupportedAlgorithm,
                "the certificate's public key algorithm is unknown to OpenSSL; Klammer supports EC (P-256/P-384/brainpool) and RSA certificates"
            )
        }
        let der: [UInt8]
        do {
            der = try OpenSSLHelpers.i2d("a certificate") { i2d_X509(x509, $0) }
        } catch {
            X509_free(x509)
            throw error
        }
        self.x509 = x509
        self.derBytes = der
        self.fingerprint = CertificateFingerprint(bytes: SHA256.hash(der))
        // Compute and cache extension flags now, so later readers (also other threads) only read.
        _ = X509_check_purpose(x509, -1, 0)
        ERR_clear_error()
    }

    deinit { X509_free(x509) }

    /// Parses one PEM certificate (`-----BEGIN CERTIFICATE-----`). Text before the armour is ignored;
    /// only the first certificate is read (use ``loadAll(fromPEMFile:)`` for bundles).
    public convenience init(pem: String) throws {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.certificate, what: "certificate PEM")
        ERR_clear_error()
        let x509 = try OpenSSLHelpers.withReadBIO(bytes) { PEM_read_bio_X509($0, nil, nil, nil) }
        guard let x509 else {
            throw CryptoError.openSSL(.invalidEncoding, "not a PEM certificate; expected `-----BEGIN CERTIFICATE-----`")
        }
        try self.init(taking: x509)
    }

    /// Parses one DER certificate; trailing bytes are refused.
    public convenience init(der: [UInt8]) throws {
        try InputLimits.check(der.count, limit: InputLimits.certificate, what: "certificate DER")
        ERR_clear_error()
        var consumed = 0
        let x509 = OpenSSLHelpers.d2i(der) { cursor, count -> OpaquePointer? in
            let start = cursor.pointee
            let x = d2i_X509(nil, cursor, count)
            if let start, let end = cursor.pointee { consumed = end - start }
            return x
        }
        guard let x509 else {
            throw CryptoError.openSSL(
                .invalidEncoding, "not a DER certificate; check that the input is X.509 DER (e.g. `openssl x509 -outform DER`)")
        }
        guard consumed == der.count else {
            X509_free(x509)
            throw CryptoError(
                .invalidEncoding, "certificate DER has \(der.count - consumed) trailing bytes; pass exactly one DER certificate")
        }
        try self.init(taking: x509)
    }

    /// Loads every certificate from a PEM bundle file, in file order; a file holding one DER certificate is accepted too.
    /// Fails if the file holds no certificate or a PEM block is corrupt.
    public static func loadAll(fromPEMFile path: String) throws -> [Certificate] {
        let bytes = try OpenSSLHelpers.readFile(path, limit: InputLimits.certificateBundle, what: "certificate")
        if !OpenSSLHelpers.looksLikePEM(bytes) {
            do {
                return [try Certificate(der: bytes)]
            } catch let error as CryptoError where error.code == .invalidEncoding {
                throw CryptoError(
                    .invalidEncoding, "file \(path) holds neither PEM certificates nor one DER certificate; check the path",
                    openSSLErrors: error.openSSLErrors)
            }
        }
        return try parseAllPEM(bytes, source: "file \(path)")
    }

    /// Parses every certificate in PEM text (a bundle), in order. Non-certificate PEM blocks (e.g. keys) are refused.
    public static func parseAll(pem: String) throws -> [Certificate] {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.certificateBundle, what: "certificate bundle")
        return try parseAllPEM(bytes, source: "the PEM bundle")
    }

    private static func parseAllPEM(_ bytes: [UInt8], source: String) throws -> [Certificate] {
        ERR_clear_error()
        return try OpenSSLHelpers.withReadBIO(bytes) { bio in
            var result: [Certificate] = []
            while true {
                guard let x509 = PEM_read_bio_X509(bio, nil, nil, nil) else {
                    if klammer_err_last_is_pem_no_start_line() != 0 && !result.isEmpty {
                        ERR_clear_error()  // normal end of input
                        break
                    }
                    throw CryptoError.openSSL(
                        .invalidEncoding,
                        result.isEmpty
                            ? "\(source) holds no PEM certificate; expected `-----BEGIN CERTIFICATE-----` blocks"
                            : "certificate #\(result.count + 1) in \(source) is corrupt; fix or remove it")
                }
                result.append(try Certificate(taking: x509))
            }
            return result
        }
    }

    /// PEM encoding (`-----BEGIN CERTIFICATE-----`, 64-column base64, trailing newline).
    public var pemString: String {
        PEM.encode(derBytes, label: "CERTIFICATE")
    }

    /// X509*, borrowed; valid while this object lives. Do not modify or free it.
    package var pointer: OpaquePointer { x509 }

    public static func == (lhs: Certificate, rhs: Certificate) -> Bool { lhs.derBytes == rhs.derBytes }
    public func hash(into hasher: inout Hasher) { hasher.combine(fingerprint) }
}
