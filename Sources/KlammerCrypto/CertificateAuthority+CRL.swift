internal import COpenSSL
internal import COpenSSLShims
public import Foundation
import KlammerHex

extension CertificateAuthority {
    /// Issues a v2 CRL signed by this CA, with cRLNumber and authorityKeyIdentifier extensions.
    ///
    /// - Parameter revoked: serial numbers in any hex spelling (see ``CertificateRevocationList/isRevoked(serialNumberHex:)``).
    /// - Parameter crlNumber: the monotonically increasing cRLNumber; defaults to milliseconds since 1970,
    ///   which increases as long as CRLs are not issued twice in the same millisecond.
    public func makeCRL(
        revoked: [(serialNumberHex: String, revokedAt: Date)],
        lastUpdate: Date = .now - 60,
        nextUpdate: Date = .now + 7 * 86400,
        crlNumber: UInt64? = nil
    ) throws -> CertificateRevocationList {
        guard lastUpdate < nextUpdate else {
            throw CryptoError(.invalidParameter, "CRL lastUpdate \(lastUpdate.iso8601) is not before nextUpdate \(nextUpdate.iso8601)")
        }
        guard let crl = X509_CRL_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a CRL; the process may be out of memory")
        }
        defer { X509_CRL_free(crl) }
        guard X509_CRL_set_version(crl, 1) == 1,  // 1 = v2
            X509_CRL_set_issuer_name(crl, X509_get_subject_name(certificate.pointer)) == 1
        else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the CRL version/issuer")
        }
        let last = try OpenSSLHelpers.makeTime(lastUpdate)
        defer { ASN1_TIME_free(last) }
        let next = try OpenSSLHelpers.makeTime(nextUpdate)
        defer { ASN1_TIME_free(next) }
        guard X509_CRL_set1_lastUpdate(crl, last) == 1, X509_CRL_set1_nextUpdate(crl, next) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the CRL update times")
        }

        for entry in revoked {
            guard let canonical = HexCoding.canonicalSerial(entry.serialNumberHex), !canonical.hasPrefix("-"),
                let bytes = Hex.decode(canonical), bytes.count <= 20
            else {
                throw CryptoError(
                    .invalidParameter, "revoked serial \"\(entry.serialNumberHex)\" is not a hex serial number of at most 20 bytes")
            }
            let serial = try OpenSSLHelpers.makeInteger(bytes)
            defer { ASN1_INTEGER_free(serial) }
            let date = try OpenSSLHelpers.makeTime(entry.revokedAt)
            defer { ASN1_TIME_free(date) }
            guard let item = X509_REVOKED_new() else {
                throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a CRL entry")
            }
            guard X509_REVOKED_set_serialNumber(item, serial) == 1,
                X509_REVOKED_set_revocationDate(item, date) == 1,
                X509_CRL_add0_revoked(crl, item) == 1
            else {  // add0: the CRL owns `item` from here on
                X509_REVOKED_free(item)
                throw CryptoError.openSSL(.openSSLFailure, "cannot add serial \(canonical) to the CRL")
            }
        }
        guard X509_CRL_sort(crl) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot sort the CRL entries")
        }

        let number = crlNumber ?? UInt64((Date.now.timeIntervalSince1970 * 1000).rounded(.down))
        let numberBytes = withUnsafeBytes(of: number.bigEndian) { Array($0) }
        let asn1Number = try OpenSSLHelpers.makeInteger(numberBytes)
        defer { ASN1_INTEGER_free(asn1Number) }
        guard X509_CRL_add1_ext_i2d(crl, NID_crl_number, asn1Number, 0, 0) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot add the cRLNumber extension")
        }
        guard klammer_x509_crl_add_ext_conf(crl, certificate.pointer, NID_authority_key_identifier, "keyid:always") == 1 else {
            throw CryptoError.openSSL(
                .openSSLFailure,
                "cannot add the authorityKeyIdentifier extension to the CRL; the CA certificate needs a subjectKeyIdentifier")
        }

        let context = try key.storage.makeSignContext()
        defer { EVP_MD_CTX_free(context) }
        guard X509_CRL_sign_ctx(crl, context) > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not sign the CRL with the \(key.kind) CA key")
        }
        let der = try OpenSSLHelpers.i2d("the new CRL") { i2d_X509_CRL(crl, $0) }
        return try CertificateRevocationList(der: der)
    }
}
