public import Foundation
public import KlammerCrypto

/// The test PKI every test target builds on: a CA generated at run time (no key is ever committed) and the leaf
/// certificates it issues with fresh keys. The targets' own fixtures (the TLS tests' `PKI`, the server tests'
/// `TestPKI`, the client tests' `TestPKI`, the broker tests' `BrokerFixture`) only choose names and which leaves
/// they need; generating keys and certificates happens here, once.
public struct TestCA: Sendable {
    public let authority: CertificateAuthority
    public var certificate: Certificate { authority.certificate }
    /// A trust store with only this CA (no CRL).
    public var trustStore: TrustStore { TrustStore(anchors: [authority.certificate]) }

    /// A new self-signed root with a fresh key.
    public init(_ commonName: String, organization: String? = nil, keyKind: KeyKind = .p256) throws {
        authority = try CertificateAuthority.create(commonName: commonName, organization: organization, keyKind: keyKind)
    }

    /// Issues from an existing CA (one a test made itself, e.g. a second, foreign CA).
    public init(_ authority: CertificateAuthority) { self.authority = authority }

    /// The subject alternative name of participant `id` (SPEC.md: `URI:urn:klammer:participant:ID`).
    public static func participantNames(_ id: String) -> [String] { ["URI:urn:klammer:participant:\(id)"] }

    /// What a server certificate for the tests' loopback connections names.
    public static let loopbackNames = ["DNS:localhost", "IP:127.0.0.1"]

    /// A fresh `kind` key and a certificate for it with common name `commonName`.
    /// - Parameter subjectAlternativeNames: `nil` names participant `commonName` (`participantNames`).
    public func issue(
        _ commonName: String, subjectAlternativeNames: [String]? = nil, usage: CertificateAuthority.Usage = .client,
        kind: KeyKind = .p256, notBefore: Date = .now - 300, notAfter: Date = .now + 365 * 86400
    ) throws -> TestLeaf {
        let key = try PrivateKey.generate(kind)
        let certificate = try authority.issue(
            commonName: commonName,
            subjectAlternativeNames: subjectAlternativeNames ?? Self.participantNames(commonName),
            publicKey: key.publicKey, usage: usage, notBefore: notBefore, notAfter: notAfter)
        return TestLeaf(commonName: commonName, certificate: certificate, key: key)
    }
}

/// A certificate issued by a `TestCA`, with its private key.
public struct TestLeaf: Sendable {
    public let commonName: String
    public let certificate: Certificate
    public let key: PrivateKey

    public init(commonName: String, certificate: Certificate, key: PrivateKey) {
        self.commonName = commonName; self.certificate = certificate; self.key = key
    }

    /// Writes the certificate (PEM) and the key (PKCS#8 PEM) as `<name>.pem` / `<name>.key` into `directory`.
    @discardableResult
    public func write(to directory: TemporaryDirectory, as name: String) throws -> (certificatePath: String, keyPath: String) {
        (try directory.write("\(name).pem", certificate.pemString), try directory.write("\(name).key", key.pkcs8PEM))
    }
}
