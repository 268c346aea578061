internal import COpenSSL
internal import COpenSSLShims
public import Foundation
import KlammerHex

extension Certificate: CustomStringConvertible {
    /// Subject distinguished name, RFC 2253 one-line form (most specific RDN first), e.g. `CN=Bezirksamt Mitte,O=Land Berlin,C=DE`.
    public var subject: String { OpenSSLHelpers.nameString(X509_get_subject_name(pointer)) }

    /// Issuer distinguished name, RFC 2253 one-line form.
    public var issuer: String { OpenSSLHelpers.nameString(X509_get_issuer_name(pointer)) }

    /// The (last) commonName of the subject, if any.
    public var commonName: String? {
        guard let name = X509_get_subject_name(pointer) else { return nil }
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

    /// The serial number as lowercase hex of its minimal big-endian bytes (even length), e.g. `"0a1b"`.
    /// OpenSSL prints the same digits in uppercase (`openssl x509 -serial`).
    public var serialNumberHex: String { OpenSSLHelpers.serialHex(X509_get0_serialNumber(pointer)) }

    /// Start of the validity period.
    public var notBefore: Date { OpenSSLHelpers.date(X509_get0_notBefore(pointer)) ?? .distantFuture }

    /// End of the validity period.
    public var notAfter: Date { OpenSSLHelpers.date(X509_get0_notAfter(pointer)) ?? .distantPast }

    /// Subject alternative names, typed like OpenSSL's config syntax:
    /// `"URI:urn:klammer:participant:ags:13004000"`, `"DNS:localhost"`, `"IP:127.0.0.1"`, `"IP:::1"`, `"email:a@b.de"`.
    /// Other name types appear as `"othername"`, `"dirName:<RFC 2253>"`, `"RID:<oid>"`.
    public var subjectAlternativeNames: [String] {
        guard let raw = X509_get_ext_d2i(pointer, NID_subject_alt_name, nil, nil) else {
            ERR_clear_error()
            return []
        }
        let names = OpaquePointer(raw)
        defer { GENERAL_NAMES_free(names) }
        var result: [String] = []
        for i in 0..<klammer_sk_GENERAL_NAME_num(names) {
            guard let name = klammer_sk_GENERAL_NAME_value(names, i) else { continue }
            result.append(Certificate.describe(name))
        }
        return result
    }

    private static func describe(_ name: UnsafeMutablePointer<GENERAL_NAME>) -> String {
        func string(_ s: UnsafeMutablePointer<ASN1_IA5STRING>?) -> String {
            guard let s, let data = ASN1_STRING_get0_data(s) else { return "" }
            return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(s))), as: UTF8.self)
        }
        switch name.pointee.type {
        case GEN_DNS: return "DNS:" + string(name.pointee.d.dNSName)
        case GEN_URI: return "URI:" + string(name.pointee.d.uniformResourceIdentifier)
        case GEN_EMAIL: return "email:" + string(name.pointee.d.rfc822Name)
        case GEN_IPADD:
            guard let ip = name.pointee.d.iPAddress, let data = ASN1_STRING_get0_data(ip) else { return "IP:" }
            let bytes = Array(UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(ip))))
            return "IP:" + IPAddressText.format(bytes)
        case GEN_DIRNAME: return "dirName:" + OpenSSLHelpers.nameString(name.pointee.d.directoryName)
        case GEN_RID:
            var buffer = [CChar](repeating: 0, count: 128)
            let n = OBJ_obj2txt(&buffer, Int32(buffer.count), name.pointee.d.registeredID, 1)
            return "RID:" + (n > 0 ? String(decoding: buffer.prefix(Int(min(n, 127))).map { UInt8(bitPattern: $0) }, as: UTF8.self) : "")
        case GEN_OTHERNAME: return "othername"
        default: return "unsupported"
        }
    }

    /// The participant identifier from the `URI:urn:klammer:participant:<id>` SAN (e.g. `"ags:13004000"`), if any.
    public var klammerParticipantID: String? {
        subjectAlternativeNames.first { $0.hasPrefix(CertificateAuthority.participantURIPrefix) }
            .map { String($0.dropFirst(CertificateAuthority.participantURIPrefix.count)) }
    }

    /// True if basicConstraints says `CA:TRUE`.
    public var isCA: Bool {
        (X509_get_extension_flags(pointer) & UInt32(EXFLAG_CA)) != 0
    }

    /// The subject public key.
    public var publicKey: PublicKey {
        // X509_get_pubkey returns a new reference; a parsed certificate always has a decodable key or parse would have failed later.
        guard let pkey = X509_get_pubkey(pointer), let key = try? PublicKey(taking: pkey) else {
            ERR_clear_error()
            fatalError("certificate \(subject) has an undecodable public key")
        }
        return key
    }

    /// `subject (SHA256:…)`, for logs.
    public var description: String { "\(subject) (serial \(serialNumberHex), SHA256:\(fingerprint.hex))" }
}

/// Formats IP address bytes from a SAN.
enum IPAddressText {
    static func format(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        if bytes.count == 16 {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            let ok = bytes.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buffer, socklen_t(buffer.count)) != nil }
            if ok { return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return Hex.encode(bytes)
    }
}
