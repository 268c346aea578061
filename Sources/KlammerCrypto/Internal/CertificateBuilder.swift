internal import COpenSSL
internal import COpenSSLShims
internal import Foundation

/// Assembles and signs X.509 v3 certificates. Each build owns its X509 only for the duration of the call;
/// the result is re-parsed from DER into a ``Certificate`` so ownership stays simple (one free per object).
struct CertificateBuilder {
    var commonName: String
    var organization: String?
    var serialNumber: [UInt8]
    var notBefore: Date
    var notAfter: Date
    var publicKey: PublicKey
    /// Extensions in config-string form, added in this order (SKI must precede AKI for self-signed certificates).
    var extensions: [(nid: Int32, value: String)]

    /// Builds, then signs with `issuerKey`. `issuer == nil` means self-signed (the issuer name is the subject).
    func sign(issuer: Certificate?, issuerKey: PrivateKey) throws -> Certificate {
        guard let x509 = X509_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a certificate; the process may be out of memory")
        }
        defer { X509_free(x509) }
        guard X509_set_version(x509, 2) == 1 else {  // 2 = X.509 v3
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the certificate version")
        }
        let serial = try OpenSSLHelpers.makeInteger(serialNumber)
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_serialNumber(x509, serial) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the serial number")
        }

        let subject = try CertificateBuilder.makeName(commonName: commonName, organization: organization)
        defer { X509_NAME_free(subject) }
        guard X509_set_subject_name(x509, subject) == 1,
            X509_set_issuer_name(x509, issuer.map { X509_get_subject_name($0.pointer) } ?? subject) == 1
        else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the subject/issuer name")
        }

        let start = try OpenSSLHelpers.makeTime(notBefore)
        defer { ASN1_TIME_free(start) }
        let end = try OpenSSLHelpers.makeTime(notAfter)
        defer { ASN1_TIME_free(end) }
        guard X509_set1_notBefore(x509, start) == 1, X509_set1_notAfter(x509, end) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the validity period")
        }
        guard X509_set_pubkey(x509, publicKey.pointer) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot set the subject public key")
        }

        for ext in extensions {
            let ok = ext.value.withCString { klammer_x509_add_ext_conf(x509, issuer?.pointer ?? x509, ext.nid, $0) }
            guard ok == 1 else {
                let name = OBJ_nid2sn(ext.nid).map { String(cString: $0) } ?? "\(ext.nid)"
                throw CryptoError.openSSL(.invalidParameter, "cannot build extension \(name) = \"\(ext.value)\"; check the value")
            }
        }

        let context = try issuerKey.storage.makeSignContext()
        defer { EVP_MD_CTX_free(context) }
        guard X509_sign_ctx(x509, context) > 0 else {
            throw CryptoError.openSSL(.openSSLFailure, "OpenSSL could not sign the certificate with the \(issuerKey.kind) issuer key")
        }
        let der = try OpenSSLHelpers.i2d("the new certificate") { i2d_X509(x509, $0) }
        return try Certificate(der: der)
    }

    /// A new X509_NAME `O=…, CN=…` (printed RFC 2253 as `CN=…,O=…`); caller frees.
    static func makeName(commonName: String, organization: String?) throws -> OpaquePointer {
        guard let name = X509_NAME_new() else {
            throw CryptoError.openSSL(.openSSLFailure, "cannot allocate a name; the process may be out of memory")
        }
        var entries: [(String, String)] = []
        if let organization { entries.append(("O", organization)) }
        entries.append(("CN", commonName))
        for (field, value) in entries {
            let ok = X509_NAME_add_entry_by_txt(name, field, klammer_mbstring_utf8(), value, -1, -1, 0)
            if ok != 1 {
                X509_NAME_free(name)
                throw CryptoError.openSSL(.invalidParameter, "cannot put \(field)=\"\(value)\" into a name; at most 64 characters")
            }
        }
        return name
    }

    /// 16 random bytes with the top bit cleared: a positive 127-bit serial (RFC 5280 wants ≥ 64 bits of entropy, ≤ 20 octets).
    static func randomSerial() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else {
            throw CryptoError.openSSL(.openSSLFailure, "the OpenSSL random generator failed; check the system entropy source")
        }
        bytes[0] &= 0x7f
        if bytes[0] == 0 { bytes[0] = 0x01 }  // keep the encoding at full length
        return bytes
    }
}
