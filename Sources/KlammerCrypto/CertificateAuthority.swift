internal import COpenSSL
internal import COpenSSLShims
public import Foundation

/// A certificate authority: a CA certificate with its private key. Issues Klammer's participant certificates and CRLs.
///
/// Profile (see SPEC.md §3): CA certificates carry `basicConstraints=critical,CA:TRUE`,
/// `keyUsage=critical,keyCertSign,cRLSign`, SKI and AKI; leaf certificates `basicConstraints=critical,CA:FALSE`,
/// `keyUsage=critical,digitalSignature` plus `keyAgreement` (EC) or `keyEncipherment` (RSA), an extendedKeyUsage
/// per ``Usage``, the SANs, SKI and AKI. Signatures use SHA-256, SHA-384 for 384-bit curve CA keys, RSA-PSS for RSA CA keys.
public struct CertificateAuthority: Sendable {
    /// The CA certificate.
    public let certificate: Certificate
    /// The CA private key.
    public let key: PrivateKey

    /// Creates a new self-signed root CA with a fresh key.
    public static func create(
        commonName: String,
        organization: String? = nil,
        keyKind: KeyKind = .p256,
        notBefore: Date = .now - 300,
        notAfter: Date = .now + 10 * 365 * 86400
    ) throws -> CertificateAuthority {
        try CertificateAuthority.checkValidity(notBefore: notBefore, notAfter: notAfter)
        try CertificateAuthority.checkName(commonName)
        let key = try PrivateKey.generate(keyKind)
        let builder = CertificateBuilder(
            commonName: commonName, organization: organization,
            serialNumber: try CertificateBuilder.randomSerial(),
            notBefore: notBefore, notAfter: notAfter, publicKey: key.publicKey,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always")
            ])
        let certificate = try builder.sign(issuer: nil, issuerKey: key)
        return try CertificateAuthority(certificate: certificate, key: key)
    }

    /// Wraps an existing CA certificate and key; fails if the key does not belong to the certificate,
    /// the certificate is not a CA, or the key is below the Klammer minimum.
    public init(certificate: Certificate, key: PrivateKey) throws {
        guard key.matches(certificate.publicKey) else {
            throw CryptoError(
                .keyMismatch,
                "the private key does not belong to CA certificate \(certificate.subject); load the key that was generated with this certificate"
            )
        }
        guard certificate.isCA else {
            throw CryptoError(
                .invalidPurpose, "certificate \(certificate.subject) is not a CA (basicConstraints CA:TRUE missing); use a CA certificate")
        }
        guard key.publicKey.meetsKlammerMinimum else {
            throw CryptoError(
                .weakKey, "CA key \(key.kind) is below the BSI TR-02102-1 minimum; create a new CA with P-256/P-384 or RSA ≥ 3072")
        }
        self.certificate = certificate
        self.key = key
    }

    /// What a leaf certificate may be used for in TLS (extendedKeyUsage).
    public enum Usage: Sendable {
        /// `clientAuth`: a participant connecting to a broker.
        case client
        /// `serverAuth`: a broker.
        case server
        /// Both.
        case clientAndServer

        var extendedKeyUsage: String {
            switch self {
            case .client: "clientAuth"
            case .server: "serverAuth"
            case .clientAndServer: "serverAuth,clientAuth"
            }
        }
    }

    /// Issues a leaf certificate for `publicKey`.
    ///
    /// - Parameter subjectAlternativeNames: entries like `"URI:urn:klammer:participant:ags:13004000"`, `"DNS:localhost"`,
    ///   `"IP:127.0.0.1"`, `"email:poststelle@example.de"`. Commas are not allowed inside a value.
    /// - Parameter serialNumber: big-endian serial bytes (1–20, positive); 16 random bytes if nil.
    /// - Throws: ``CryptoError/Code/weakKey`` for keys below the Klammer minimum, ``CryptoError/Code/invalidParameter``
    ///   for a malformed SAN, an empty validity period or one that outlives the CA.
    public func issue(
        commonName: String,
        organization: String? = nil,
        subjectAlternativeNames: [String] = [],
        publicKey: PublicKey,
        usage: Usage,
        notBefore: Date = .now - 300,
        notAfter: Date = .now + 365 * 86400,
        serialNumber: [UInt8]? = nil
    ) throws -> Certificate {
        try CertificateAuthority.checkName(commonName)
        try CertificateAuthority.checkValidity(notBefore: notBefore, notAfter: notAfter)
        guard notAfter <= certificate.notAfter else {
            throw CryptoError(
                .invalidParameter,
                "requested notAfter \(notAfter.iso8601) is after the CA's notAfter \(certificate.notAfter.iso8601); shorten the validity or renew the CA"
            )
        }
        guard publicKey.meetsKlammerMinimum else {
            throw CryptoError(
                .weakKey, "\(publicKey.kind) is below the BSI TR-02102-1 minimum; generate a P-256, P-384, brainpool or RSA ≥ 3072 key")
        }
        let serial = try serialNumber ?? CertificateBuilder.randomSerial()
        guard (1...20).contains(serial.count), serial[0] & 0x80 == 0, serial.contains(where: { $0 != 0 }) else {
            throw CryptoError(
                .invalidParameter,
                "serial number must be 1–20 bytes, positive and non-zero (RFC 5280 §4.1.2.2); omit it to get a random one")
        }
        var extensions: [(nid: Int32, value: String)] = [
            (NID_basic_constraints, "critical,CA:FALSE")
        ]
        if case .rsa = publicKey.kind {
            extensions.append((NID_key_usage, "critical,digitalSignature,keyEncipherment"))
        } else {
            extensions.append((NID_key_usage, "critical,digitalSignature,keyAgreement"))
        }
        extensions.append((NID_ext_key_usage, usage.extendedKeyUsage))
        if !subjectAlternativeNames.isEmpty {
            try subjectAlternativeNames.forEach(CertificateAuthority.checkSAN)
            // A certificate names one participant; two would make the identity ambiguous (SPEC.md §3.2).
            guard subjectAlternativeNames.filter({ $0.hasPrefix(CertificateAuthority.participantURIPrefix) }).count <= 1 else {
                throw CryptoError(
                    .invalidParameter,
                    "more than one \(CertificateAuthority.participantURIPrefix)… SAN; a certificate identifies exactly one participant")
            }
            extensions.append((NID_subject_alt_name, subjectAlternativeNames.joined(separator: ",")))
        }
        extensions.append((NID_subject_key_identifier, "hash"))
        extensions.append((NID_authority_key_identifier, "keyid:always"))
        let builder = CertificateBuilder(
            commonName: commonName, organization: organization, serialNumber: serial,
            notBefore: notBefore, notAfter: notAfter, publicKey: publicKey, extensions: extensions)
        return try builder.sign(issuer: certificate, issuerKey: key)
    }

    /// Issues a subordinate (intermediate) CA certificate for `publicKey`: `CA:TRUE, pathlen:0` (it may issue
    /// only leaf certificates), `keyUsage=critical,keyCertSign,cRLSign`, SKI and AKI.
    /// Wrap it with its key in ``init(certificate:key:)`` to issue from it.
    public func issueSubordinateCA(
        commonName: String,
        organization: String? = nil,
        publicKey: PublicKey,
        notBefore: Date = .now - 300,
        notAfter: Date = .now + 5 * 365 * 86400
    ) throws -> Certificate {
        try CertificateAuthority.checkName(commonName)
        try CertificateAuthority.checkValidity(notBefore: notBefore, notAfter: notAfter)
        guard notAfter <= certificate.notAfter else {
            throw CryptoError(
                .invalidParameter,
                "requested notAfter \(notAfter.iso8601) is after the CA's notAfter \(certificate.notAfter.iso8601); shorten the validity or renew the CA"
            )
        }
        guard publicKey.meetsKlammerMinimum else {
            throw CryptoError(
                .weakKey, "\(publicKey.kind) is below the BSI TR-02102-1 minimum; generate a P-256, P-384, brainpool or RSA ≥ 3072 key")
        }
        let builder = CertificateBuilder(
            commonName: commonName, organization: organization,
            serialNumber: try CertificateBuilder.randomSerial(),
            notBefore: notBefore, notAfter: notAfter, publicKey: publicKey,
            extensions: [
                (NID_basic_constraints, "critical,CA:TRUE,pathlen:0"),
                (NID_key_usage, "critical,keyCertSign,cRLSign"),
                (NID_subject_key_identifier, "hash"),
                (NID_authority_key_identifier, "keyid:always")
            ])
        return try builder.sign(issuer: certificate, issuerKey: key)
    }

    /// The SAN prefix that identifies a Klammer participant: `URI:urn:klammer:participant:<id>`.
    public static let participantURIPrefix = "URI:urn:klammer:participant:"

    static func checkValidity(notBefore: Date, notAfter: Date) throws {
        guard notBefore < notAfter else {
            throw CryptoError(
                .invalidParameter,
                "notBefore \(notBefore.iso8601) is not before notAfter \(notAfter.iso8601); give a non-empty validity period")
        }
    }

    static func checkName(_ commonName: String) throws {
        guard !commonName.isEmpty, commonName.count <= 64 else {
            throw CryptoError(.invalidParameter, "commonName must be 1–64 characters (RFC 5280 ub-common-name), got \(commonName.count)")
        }
    }

    static func checkSAN(_ entry: String) throws {
        let allowed = ["URI:", "DNS:", "IP:", "email:"]
        guard let prefix = allowed.first(where: entry.hasPrefix), entry.count > prefix.count,
            !entry.contains(","), !entry.contains("\n"), !entry.contains("\0")
        else {
            throw CryptoError(
                .invalidParameter, "subject alternative name \"\(entry)\" is malformed; use URI:…, DNS:…, IP:… or email:… without commas")
        }
    }
}
