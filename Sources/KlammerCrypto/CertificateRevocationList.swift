internal import COpenSSL
internal import COpenSSLShims
public import Foundation

/// An X.509 v2 certificate revocation list (wraps an OpenSSL `X509_CRL*`).
///
/// `@unchecked Sendable`: the CRL is never modified after parsing; the revoked serial numbers are copied
/// into a Swift set at parse time, so lookups never touch OpenSSL's lazily sorted revoked stack.
public final class CertificateRevocationList: @unchecked Sendable {
    private let crl: OpaquePointer
    /// Canonical serial hex (see ``Certificate/serialNumberHex``) of every revoked entry.
    public let revokedSerialNumbers: Set<String>
    /// The DER encoding, computed once.
    public let derBytes: [UInt8]

    /// Takes ownership of `crl`; frees it if this initialiser throws (deinit does not run then).
    init(taking crl: OpaquePointer) throws {
        let der: [UInt8]
        do {
            der = try OpenSSLHelpers.i2d("a CRL") { i2d_X509_CRL(crl, $0) }
        } catch {
            X509_CRL_free(crl)
            throw error
        }
        self.crl = crl
        self.derBytes = der
        var serials = Set<String>()
        if let revoked = X509_CRL_get_REVOKED(crl) {
            for i in 0..<klammer_sk_X509_REVOKED_num(revoked) {
                if let entry = klammer_sk_X509_REVOKED_value(revoked, i) {
                    serials.insert(OpenSSLHelpers.serialHex(X509_REVOKED_get0_serialNumber(entry)))
                }
            }
        }
        self.revokedSerialNumbers = serials
    }

    deinit { X509_CRL_free(crl) }

    /// Parses one PEM CRL (`-----BEGIN X509 CRL-----`).
    public convenience init(pem: String) throws {
        let bytes = Array(pem.utf8)
        try InputLimits.check(bytes.count, limit: InputLimits.crl, what: "CRL PEM")
        ERR_clear_error()
        let crl = try OpenSSLHelpers.withReadBIO(bytes) { PEM_read_bio_X509_CRL($0, nil, nil, nil) }
        guard let crl else {
            throw CryptoError.openSSL(.invalidEncoding, "not a PEM CRL; expected `-----BEGIN X509 CRL-----`")
        }
        try self.init(taking: crl)
    }

    /// Parses one DER CRL.
    public convenience init(der: [UInt8]) throws {
        try InputLimits.check(der.count, limit: InputLimits.crl, what: "CRL DER")
        ERR_clear_error()
        guard let crl = OpenSSLHelpers.d2i(der, { d2i_X509_CRL(nil, $0, $1) }) else {
            throw CryptoError.openSSL(.invalidEncoding, "not a DER CRL; check that the input is an X.509 CRL (`openssl crl -outform DER`)")
        }
        try self.init(taking: crl)
    }

    /// Loads every CRL from a PEM file (in order); a file holding one DER CRL is accepted too.
    public static func loadAll(fromPEMFile path: String) throws -> [CertificateRevocationList] {
        let bytes = try OpenSSLHelpers.readFile(path, limit: InputLimits.crl, what: "CRL")
        if !OpenSSLHelpers.looksLikePEM(bytes) {
            do {
                return [try CertificateRevocationList(der: bytes)]
            } catch let error as CryptoError where error.code == .invalidEncoding {
                throw CryptoError(
                    .invalidEncoding, "file \(path) holds neither PEM CRLs nor one DER CRL; check the path",
                    openSSLErrors: error.openSSLErrors)
            }
        }
        ERR_clear_error()
        return try OpenSSLHelpers.withReadBIO(bytes) { bio in
            var result: [CertificateRevocationList] = []
            while true {
                guard let crl = PEM_read_bio_X509_CRL(bio, nil, nil, nil) else {
                    if klammer_err_last_is_pem_no_start_line() != 0 && !result.isEmpty {
                        ERR_clear_error()
                        break
                    }
                    throw CryptoError.openSSL(
                        .invalidEncoding,
                        result.isEmpty
                            ? "file \(path) holds no PEM CRL; expected `-----BEGIN X509 CRL-----`"
                            : "CRL #\(result.count + 1) in file \(path) is corrupt; fetch it again from the issuing CA")
                }
                result.append(try CertificateRevocationList(taking: crl))
            }
            return result
        }
    }

    /// PEM encoding (`-----BEGIN X509 CRL-----`).
    public var pemString: String { PEM.encode(derBytes, label: "X509 CRL") }

    /// Issuer distinguished name, RFC 2253 one-line form.
    public var issuer: String { OpenSSLHelpers.nameString(X509_CRL_get_issuer(crl)) }

    /// thisUpdate (RFC 5280 name; OpenSSL calls it lastUpdate).
    public var lastUpdate: Date { OpenSSLHelpers.date(X509_CRL_get0_lastUpdate(crl)) ?? .distantFuture }

    /// nextUpdate, if present: after this time the CRL is stale and verification with it fails.
    public var nextUpdate: Date? { OpenSSLHelpers.date(X509_CRL_get0_nextUpdate(crl)) }

    /// The cRLNumber extension as lowercase hex (canonical like serial numbers), if present.
    public var crlNumberHex: String? {
        guard let raw = X509_CRL_get_ext_d2i(crl, NID_crl_number, nil, nil) else {
            ERR_clear_error()
            return nil
        }
        let number = raw.assumingMemoryBound(to: ASN1_INTEGER.self)
        defer { ASN1_INTEGER_free(number) }
        return OpenSSLHelpers.serialHex(number)
    }

    /// True if a certificate with this serial number is listed. Accepts any hex spelling
    /// (upper/lowercase, colons, leading zeros), as printed by OpenSSL or ``Certificate/serialNumberHex``.
    public func isRevoked(serialNumberHex: String) -> Bool {
        guard let canonical = HexCoding.canonicalSerial(serialNumberHex) else { return false }
        return revokedSerialNumbers.contains(canonical)
    }

    /// True if `certificate` is listed on this CRL. Only meaningful if this CRL's issuer issued the certificate;
    /// ``TrustStore`` checks that (and the CRL signature) for you.
    public func isRevoked(_ certificate: Certificate) -> Bool {
        certificate.issuer == issuer && revokedSerialNumbers.contains(certificate.serialNumberHex)
    }

    /// True if the CRL's signature verifies with `issuer`'s public key.
    public func isSigned(by issuer: Certificate) -> Bool {
        defer { ERR_clear_error() }
        return X509_CRL_verify(crl, issuer.publicKey.pointer) == 1
    }

    /// X509_CRL*, borrowed; valid while this object lives. Do not modify or free it.
    package var pointer: OpaquePointer { crl }
}
