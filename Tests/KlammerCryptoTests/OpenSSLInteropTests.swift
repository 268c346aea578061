import Foundation
import Testing
@testable import KlammerCrypto
import KlammerHex

/// Cross-checks against the `openssl` CLI: what we produce, OpenSSL's tools accept, and vice versa.
@Suite struct OpenSSLInteropTests {
    @Test func opensslVerifyAcceptsOurChainAndRejectsRevoked() throws {
        let dir = try TempDir()
        let ca = try CertificateAuthority.create(commonName: "Interop CA", organization: "Klammer")
        let good = try ca.issue(
            commonName: "good", subjectAlternativeNames: ["URI:urn:klammer:participant:good"],
            publicKey: try PrivateKey.generate(.p256).publicKey, usage: .clientAndServer)
        let bad = try ca.issue(commonName: "bad", publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client)
        try dir.write("ca.pem", ca.certificate.pemString)
        try dir.write("crl.pem", try ca.makeCRL(revoked: [(bad.serialNumberHex, .now - 10)]).pemString)
        try dir.write("good.pem", good.pemString)
        try dir.write("bad.pem", bad.pemString)
        let ok = try OpenSSLCLI.run(["verify", "-CAfile", "ca.pem", "-crl_check", "-CRLfile", "crl.pem", "good.pem"], in: dir)
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        // SPEC §3.4 quotes -crl_check_all: the CA's own CRL covers the (self-issued) root as well.
        let all = try OpenSSLCLI.run(["verify", "-CAfile", "ca.pem", "-crl_check_all", "-CRLfile", "crl.pem", "good.pem"], in: dir)
        #expect(all.status == 0, "\(all.stdout)\(all.stderr)")
        let revoked = try OpenSSLCLI.run(["verify", "-CAfile", "ca.pem", "-crl_check", "-CRLfile", "crl.pem", "bad.pem"], in: dir)
        #expect(revoked.status != 0)
        #expect((revoked.stdout + revoked.stderr).contains("certificate revoked"))
        // The extensions of our profile, as OpenSSL reads them.
        let text = try OpenSSLCLI.run(
            ["x509", "-in", "good.pem", "-noout", "-ext", "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName"], in: dir
        ).stdout
        #expect(text.contains("CA:FALSE"))
        #expect(text.contains("Digital Signature, Key Agreement"))
        #expect(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"))
        #expect(text.contains("URI:urn:klammer:participant:good"))
        let caText = try OpenSSLCLI.run(["x509", "-in", "ca.pem", "-noout", "-ext", "basicConstraints,keyUsage"], in: dir).stdout
        #expect(caText.contains("critical") && caText.contains("CA:TRUE") && caText.contains("Certificate Sign, CRL Sign"))
        let crlText = try OpenSSLCLI.run(["crl", "-in", "crl.pem", "-noout", "-text"], in: dir).stdout
        #expect(crlText.contains("Version 2") && crlText.contains("CRL Number") && crlText.contains("Authority Key Identifier"))
    }

    @Test func fingerprintAndSerialMatchOpenSSL() throws {
        let dir = try TempDir()
        let cert = Fixtures.ca.certificate
        try dir.write("ca.pem", cert.pemString)
        let out = try OpenSSLCLI.run(["x509", "-in", "ca.pem", "-noout", "-fingerprint", "-sha256", "-serial"], in: dir).stdout
        let lines = out.split(separator: "\n")
        let fingerprint = try #require(lines.first { $0.hasPrefix("sha256 Fingerprint=") || $0.hasPrefix("SHA256 Fingerprint=") })
        #expect(CertificateFingerprint(hex: String(fingerprint.split(separator: "=")[1])) == cert.fingerprint)
        let serial = try #require(lines.first { $0.hasPrefix("serial=") })
        #expect(serial.dropFirst("serial=".count).lowercased() == cert.serialNumberHex)
    }

    @Test func opensslReqCertificateAndKeysLoad() throws {
        let dir = try TempDir()
        let req = try OpenSSLCLI.run(
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/C=DE/O=Land Brandenburg/CN=Amt Beispiel",
                "-days", "2", "-addext", "subjectAltName=URI:urn:klammer:participant:ags:12345678,DNS:localhost,IP:127.0.0.1"
            ], in: dir)
        try #require(req.status == 0, "\(req.stderr)")
        let certs = try Certificate.loadAll(fromPEMFile: dir.path("cert.pem"))
        let cert = try #require(certs.first)
        #expect(cert.subject == "CN=Amt Beispiel,O=Land Brandenburg,C=DE")
        #expect(cert.commonName == "Amt Beispiel")
        #expect(cert.subjectAlternativeNames == ["URI:urn:klammer:participant:ags:12345678", "DNS:localhost", "IP:127.0.0.1"])
        #expect(cert.notAfter.timeIntervalSince(cert.notBefore) == 2 * 86400)
        let key = try PrivateKey.load(fromFile: dir.path("key.pem"))
        #expect(key.kind == .p256)
        #expect(key.matches(cert.publicKey))
        #expect(try TrustStore(anchors: [cert]).verify(cert) == [cert])

        // Encrypted PKCS#8, traditional EC, and DER keys from the CLI.
        try #require(
            try OpenSSLCLI.run(
                [
                    "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:brainpoolP384r1", "-aes256", "-pass", "pass:Kennwort",
                    "-out", "enc.pem"
                ], in: dir
            ).status == 0)
        #expect(try PrivateKey.load(fromFile: dir.path("enc.pem"), passphrase: "Kennwort").kind == .brainpoolP384r1)
        #expect((#expect(throws: CryptoError.self) { try PrivateKey.load(fromFile: dir.path("enc.pem")) })?.code == .wrongPassphrase)
        try #require(try OpenSSLCLI.run(["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "trad.pem"], in: dir).status == 0)
        #expect(
            try String(contentsOfFile: dir.path("trad.pem"), encoding: .utf8).contains(
                PrivateKeyPEM.begin("EC " + PrivateKeyPEM.pkcs8Label)))
        #expect(try PrivateKey.load(fromFile: dir.path("trad.pem")).kind == .p384)
        try #require(try OpenSSLCLI.run(["pkey", "-in", "key.pem", "-outform", "DER", "-out", "key.der"], in: dir).status == 0)
        #expect(try PrivateKey.load(fromFile: dir.path("key.der")).matches(cert.publicKey))
        try #require(try OpenSSLCLI.run(["x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der"], in: dir).status == 0)
        #expect(try Certificate.loadAll(fromPEMFile: dir.path("cert.der")) == [cert])
    }

    @Test func weakAndForeignKeysAreRecognised() throws {
        let dir = try TempDir()
        try #require(
            try OpenSSLCLI.run(
                [
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.pem", "-out", "rsa-cert.pem", "-subj", "/CN=weak",
                    "-days", "1"
                ], in: dir
            ).status == 0)
        let weak = try #require(try Certificate.loadAll(fromPEMFile: dir.path("rsa-cert.pem")).first)
        #expect(weak.publicKey.kind == .rsa(bits: 2048))
        #expect(!weak.publicKey.meetsKlammerMinimum)
        #expect((#expect(throws: CryptoError.self) { try TrustStore(anchors: [weak]).verify(weak) })?.code == .weakKey)
        #expect(
            (#expect(throws: CryptoError.self) { try Fixtures.ca.issue(commonName: "weak", publicKey: weak.publicKey, usage: .client) })?
                .code == .weakKey)
        let weakKey = try PrivateKey.load(fromFile: dir.path("rsa.pem"))
        #expect((#expect(throws: CryptoError.self) { try CertificateAuthority(certificate: weak, key: weakKey) })?.code == .weakKey)

        try #require(
            try OpenSSLCLI.run(
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp224r1", "-nodes", "-keyout", "p224.pem", "-out",
                    "p224-cert.pem", "-subj", "/CN=p224", "-days", "1"
                ], in: dir
            ).status == 0)
        let p224 = try #require(try Certificate.loadAll(fromPEMFile: dir.path("p224-cert.pem")).first)
        #expect(p224.publicKey.kind == .other("EC secp224r1"))
        #expect(!p224.publicKey.meetsKlammerMinimum)
        #expect((#expect(throws: CryptoError.self) { try PrivateKey.load(fromFile: dir.path("p224.pem")) })?.code == .unsupportedAlgorithm)

        try #require(
            try OpenSSLCLI.run(
                [
                    "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "ed.pem", "-out", "ed-cert.pem", "-subj", "/CN=ed", "-days",
                    "1"
                ], in: dir
            ).status == 0)
        let ed = try #require(try Certificate.loadAll(fromPEMFile: dir.path("ed-cert.pem")).first)
        #expect(ed.publicKey.kind == .other("ED25519"))
    }

    static let signingKinds: [(KeyKind, String)] = [
        (.p256, "-sha256"), (.p384, "-sha384"), (.brainpoolP256r1, "-sha256"), (.brainpoolP384r1, "-sha384"), (.rsa(bits: 3072), "-sha256")
    ]

    @Test(arguments: signingKinds)
    func signaturesInteroperateWithOpenSSLDgst(kind: KeyKind, digest: String) throws {
        let dir = try TempDir()
        let key = try PrivateKey.generate(kind)
        let data = Array("Zustellung an Amt 4711\n".utf8)
        try dir.write("data.bin", bytes: data)
        try dir.write("pub.pem", key.publicKey.pemString)
        try dir.write("sig.bin", bytes: try key.sign(data))
        var pss: [String] = []
        if case .rsa = kind { pss = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"] }
        let verified = try OpenSSLCLI.run(["dgst", digest, "-verify", "pub.pem", "-signature", "sig.bin"] + pss + ["data.bin"], in: dir)
        #expect(verified.status == 0, "\(verified.stdout)\(verified.stderr)")
        #expect(verified.stdout.contains("Verified OK"))

        // And the other way round: OpenSSL signs, we verify.
        try dir.write("key.pem", key.pkcs8PEM)
        let signed = try OpenSSLCLI.run(["dgst", digest, "-sign", "key.pem", "-out", "sig2.bin"] + pss + ["data.bin"], in: dir)
        try #require(signed.status == 0, "\(signed.stderr)")
        #expect(key.publicKey.verify(signature: try dir.read("sig2.bin"), for: data))

        // A tampered file fails in OpenSSL too.
        try dir.write("data.bin", bytes: data + [0])
        #expect(
            try OpenSSLCLI.run(["dgst", digest, "-verify", "pub.pem", "-signature", "sig.bin"] + pss + ["data.bin"], in: dir).status != 0)
    }

    @Test func sha256MatchesOpenSSLDgst() throws {
        let dir = try TempDir()
        let data = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try dir.write("data.bin", bytes: data)
        let out = try OpenSSLCLI.run(["dgst", "-sha256", "-r", "data.bin"], in: dir).stdout
        #expect(out.hasPrefix(Hex.encode(SHA256.hash(data))))
    }
}
