import Foundation
import Testing
@testable import KlammerCrypto

@Suite struct CertificateTests {
    @Test func createdCAHasTheCAProfile() throws {
        let ca = Fixtures.ca
        let cert = ca.certificate
        #expect(cert.isCA)
        #expect(cert.commonName == "Klammer Test CA")
        #expect(cert.subject == "CN=Klammer Test CA,O=Land Berlin")
        #expect(cert.issuer == cert.subject)
        #expect(cert.notBefore < Date.now && cert.notAfter > Date.now + 9 * 365 * 86400)
        #expect(cert.publicKey == ca.key.publicKey)
        #expect(cert.subjectAlternativeNames.isEmpty)
        #expect(cert.serialNumberHex.count == 32)
    }

    @Test func issuedLeafHasFieldsAndSANs() throws {
        let ca = Fixtures.ca
        let key = try PrivateKey.generate(.p256)
        let start = Date(timeIntervalSince1970: 1_780_000_000)
        let end = start + 86400
        let leaf = try ca.issue(
            commonName: "Bezirksamt Mitte", organization: "Land Berlin",
            subjectAlternativeNames: [
                "URI:urn:klammer:participant:ags:11001001", "DNS:localhost", "IP:127.0.0.1", "IP:::1", "email:poststelle@ba-mitte.berlin.de"
            ],
            publicKey: key.publicKey, usage: .clientAndServer,
            notBefore: start, notAfter: end, serialNumber: [0x0a, 0x1b])
        #expect(!leaf.isCA)
        #expect(leaf.commonName == "Bezirksamt Mitte")
        #expect(leaf.subject == "CN=Bezirksamt Mitte,O=Land Berlin")
        #expect(leaf.issuer == ca.certificate.subject)
        #expect(leaf.serialNumberHex == "0a1b")
        #expect(leaf.notBefore == start)
        #expect(leaf.notAfter == end)
        #expect(
            leaf.subjectAlternativeNames == [
                "URI:urn:klammer:participant:ags:11001001", "DNS:localhost", "IP:127.0.0.1", "IP:::1",
                "email:poststelle@ba-mitte.berlin.de"
            ])
        #expect(leaf.publicKey == key.publicKey)
        #expect(leaf != ca.certificate)
        #expect(leaf.klammerParticipantID == "ags:11001001")
        #expect(ca.certificate.klammerParticipantID == nil)
    }

    @Test func umlautsInNamesStayReadable() throws {
        let ca = Fixtures.ca
        let leaf = try ca.issue(
            commonName: "Stadt Großenhain Bürgeramt", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client)
        #expect(leaf.commonName == "Stadt Großenhain Bürgeramt")
        #expect(leaf.subject == "CN=Stadt Großenhain Bürgeramt")
    }

    @Test func pemAndDERRoundTripAndFingerprint() throws {
        let cert = Fixtures.ca.certificate
        let fromPEM = try Certificate(pem: cert.pemString)
        let fromDER = try Certificate(der: cert.derBytes)
        #expect(fromPEM == cert && fromDER == cert)
        #expect(Set([cert, fromPEM, fromDER]).count == 1)
        #expect(cert.fingerprint.bytes == SHA256.hash(cert.derBytes))
        #expect(cert.fingerprint.hex.count == 64)
        #expect(cert.pemString.hasPrefix("-----BEGIN CERTIFICATE-----\n"))
        #expect(cert.pemString.hasSuffix("-----END CERTIFICATE-----\n"))
    }

    @Test func unknownPublicKeyAlgorithmIsRefusedAtParseTime() throws {
        // Patch id-ecPublicKey (1.2.840.10045.2.1) into an unknown OID; OpenSSL still parses the certificate.
        var der = Fixtures.ca.certificate.derBytes
        let oid: [UInt8] = [0x06, 0x07, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01]
        let index = try #require((0...(der.count - oid.count)).first { Array(der[$0..<($0 + oid.count)]) == oid })
        der[index + oid.count - 1] = 0x7F
        let error = #expect(throws: CryptoError.self) { try Certificate(der: der) }
        #expect(error?.code == .unsupportedAlgorithm)
    }

    @Test func derWithTrailingBytesIsRefused() {
        let error = #expect(throws: CryptoError.self) { try Certificate(der: Fixtures.ca.certificate.derBytes + [0]) }
        #expect(error?.code == .invalidEncoding)
    }

    @Test func bundleLoadsInOrderAndDERFileLoads() throws {
        let dir = try TempDir()
        let ca = Fixtures.ca
        let leaf = try ca.issue(commonName: "leaf", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .server)
        let bundle = try dir.write("bundle.pem", "# comment\n" + leaf.pemString + "\n" + ca.certificate.pemString)
        #expect(try Certificate.loadAll(fromPEMFile: bundle) == [leaf, ca.certificate])
        let der = try dir.write("leaf.der", bytes: leaf.derBytes)
        #expect(try Certificate.loadAll(fromPEMFile: der) == [leaf])
        #expect(try Certificate.parseAll(pem: leaf.pemString + ca.certificate.pemString).count == 2)
    }

    @Test func badInputsGiveSpecificErrors() throws {
        let dir = try TempDir()
        let empty = try dir.write("empty.pem", "nothing here\n")
        #expect((#expect(throws: CryptoError.self) { try Certificate.loadAll(fromPEMFile: empty) })?.code == .invalidEncoding)
        let missing = #expect(throws: CryptoError.self) { try Certificate.loadAll(fromPEMFile: dir.path("missing.pem")) }
        #expect(missing?.code == .fileNotFound)
        #expect(missing?.message.contains("missing.pem") == true)
        // A good certificate followed by a corrupt block must not silently yield one certificate.
        let corrupt = try dir.write(
            "corrupt.pem", Fixtures.ca.certificate.pemString + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        #expect((#expect(throws: CryptoError.self) { try Certificate.loadAll(fromPEMFile: corrupt) })?.code == .invalidEncoding)
        #expect((#expect(throws: CryptoError.self) { try Certificate(pem: "x") })?.code == .invalidEncoding)
        let huge = String(repeating: "A", count: (1 << 20) + 1)
        #expect((#expect(throws: CryptoError.self) { try Certificate(pem: huge) })?.code == .inputTooLarge)
    }

    @Test func issueRefusesBadParameters() throws {
        let ca = Fixtures.ca
        let pub = try PrivateKey.generate(.p256).publicKey
        #expect(
            (#expect(throws: CryptoError.self) {
                try ca.issue(commonName: "x", subjectAlternativeNames: ["URI:a,b"], publicKey: pub, usage: .client)
            })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) {
                try ca.issue(
                    commonName: "x", subjectAlternativeNames: ["URI:urn:klammer:participant:a", "URI:urn:klammer:participant:b"],
                    publicKey: pub, usage: .client)
            })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) {
                try ca.issue(commonName: "x", subjectAlternativeNames: ["foo:bar"], publicKey: pub, usage: .client)
            })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) { try ca.issue(commonName: "", publicKey: pub, usage: .client) })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) {
                try ca.issue(commonName: "x", publicKey: pub, usage: .client, notBefore: .now, notAfter: .now - 1)
            })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) {
                try ca.issue(commonName: "x", publicKey: pub, usage: .client, notAfter: .now + 20 * 365 * 86400)
            })?.code == .invalidParameter)
        #expect(
            (#expect(throws: CryptoError.self) { try ca.issue(commonName: "x", publicKey: pub, usage: .client, serialNumber: [0x80]) })?
                .code == .invalidParameter)
    }

    @Test(arguments: [KeyKind.p384, .brainpoolP256r1, .rsa(bits: 3072)])
    func caOfEveryKindIssuesVerifiableCertificates(kind: KeyKind) throws {
        let ca = try CertificateAuthority.create(commonName: "CA \(kind)", keyKind: kind)
        #expect(ca.certificate.publicKey.kind == kind)
        let leaf = try ca.issue(commonName: "leaf", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client)
        #expect(leaf.issuer == ca.certificate.subject)
    }

    @Test func authorityInitChecksKeyAndCAFlag() throws {
        let ca = Fixtures.ca
        #expect(throws: Never.self) { try CertificateAuthority(certificate: ca.certificate, key: ca.key) }
        let otherKey = try PrivateKey.generate(.p256)
        #expect(
            (#expect(throws: CryptoError.self) { try CertificateAuthority(certificate: ca.certificate, key: otherKey) })?.code
                == .keyMismatch)
        let leaf = try ca.issue(commonName: "leaf", publicKey: otherKey.publicKey, usage: .client)
        #expect((#expect(throws: CryptoError.self) { try CertificateAuthority(certificate: leaf, key: otherKey) })?.code == .invalidPurpose)
    }
}
