import Foundation
import Testing
@testable import KlammerCrypto
import KlammerHex

@Suite struct CMSTests {
    struct Signer {
        let ca: CertificateAuthority
        let key: PrivateKey
        let certificate: Certificate
        init(_ kind: KeyKind = .p256, ca: CertificateAuthority = Fixtures.ca) throws {
            self.ca = ca
            key = try PrivateKey.generate(kind)
            certificate = try ca.issue(
                commonName: "Unterzeichner \(kind)", subjectAlternativeNames: ["URI:urn:klammer:participant:signer"],
                publicKey: key.publicKey, usage: .client)
        }
    }

    let document = Array("%PDF-1.7\r\nBescheid\r\n\u{0}\u{1}binär\n".utf8)

    func code(_ body: () throws -> Void) -> CryptoError.Code? {
        do { try body(); return nil } catch let error as CryptoError { return error.code } catch { return nil }
    }

    @Test(arguments: [KeyKind.p256, .p384, .brainpoolP256r1, .brainpoolP384r1, .rsa(bits: 3072)])
    func signVerifyRoundTrip(kind: KeyKind) throws {
        let signer = try Signer(kind)
        let signature = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key)
        try CMS.verifyDetached(signature: signature, content: document, signer: signer.certificate)
        var tampered = document
        tampered[tampered.count - 1] ^= 0x01
        #expect(code { try CMS.verifyDetached(signature: signature, content: tampered, signer: signer.certificate) } == .invalidSignature)
        #expect(code { try CMS.verifyDetached(signature: signature, content: [], signer: signer.certificate) } == .invalidSignature)
    }

    @Test func signerIdentifierIsIssuerAndSerial() throws {
        let signer = try Signer()
        let signature = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key)
        let id = try CMS.signerIdentifier(of: signature)
        #expect(id.issuer == signer.ca.certificate.subject)
        #expect(id.serialNumberHex == signer.certificate.serialNumberHex)
    }

    @Test func anotherCertificateIsNotTheSigner() throws {
        let signer = try Signer()
        let other = try Signer()
        let signature = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key)
        let error = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: signature, content: self.document, signer: other.certificate)
        }
        #expect(error?.code == .invalidSignature)
        #expect(error?.message.contains(signer.certificate.serialNumberHex) == true)
        // A certificate with the same issuer+serial but a different key (forged registration) must not verify either.
        let forgedKey = try PrivateKey.generate(.p256)
        let forged = try signer.ca.issue(
            commonName: "Fälschung", publicKey: forgedKey.publicKey, usage: .client,
            serialNumber: Hex.decode(signer.certificate.serialNumberHex))
        #expect(code { try CMS.verifyDetached(signature: signature, content: self.document, signer: forged) } == .invalidSignature)
    }

    /// Outside the profile (SPEC.md §3.5): an embedded certificate or no signed attributes are refused by name.
    @Test func embeddedCertificateAndNoAttributes() throws {
        let signer = try Signer()
        let plain = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key)
        let embedded = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key, embedCertificate: true)
        #expect(embedded.count > plain.count + signer.certificate.derBytes.count - 16)
        let embeddedError = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: embedded, content: self.document, signer: signer.certificate)
        }
        #expect(embeddedError?.code == .profileViolation)
        #expect(embeddedError?.message.contains("embeds 1 certificate") == true)
        let bare = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key, signingTime: false)
        #expect(bare.count < plain.count)
        let bareError = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: bare, content: self.document, signer: signer.certificate)
        }
        #expect(bareError?.code == .profileViolation)
        #expect(bareError?.message.contains("no signed attributes") == true)
        // An embedded certificate never replaces the one the caller names.
        let other = try Signer()
        #expect(
            code { try CMS.verifyDetached(signature: embedded, content: self.document, signer: other.certificate) } == .invalidSignature)
    }

    @Test func badInputs() throws {
        let signer = try Signer()
        let other = try PrivateKey.generate(.p256)
        #expect(code { _ = try CMS.signDetached(self.document, certificate: signer.certificate, key: other) } == .keyMismatch)
        #expect(
            code { try CMS.verifyDetached(signature: [0x30, 0x00], content: self.document, signer: signer.certificate) } == .invalidEncoding
        )
        #expect(code { _ = try CMS.signerIdentifier(of: Array("junk".utf8)) } == .invalidEncoding)
        #expect(code { _ = try CMS.signerIdentifier(of: [UInt8](repeating: 0x30, count: (1 << 20) + 1)) } == .inputTooLarge)
        let signature = try CMS.signDetached(document, certificate: signer.certificate, key: signer.key)
        #expect(
            code { try CMS.verifyDetached(signature: Array(signature.dropLast(3)), content: self.document, signer: signer.certificate) }
                == .invalidEncoding)
        var flipped = signature
        flipped[flipped.count - 5] ^= 0x40  // inside the ECDSA signature value
        #expect(code { try CMS.verifyDetached(signature: flipped, content: self.document, signer: signer.certificate) } != nil)
    }

    @Test func largeDocument() throws {
        let signer = try Signer()
        let big = [UInt8](repeating: 0xA5, count: 8 << 20)
        let signature = try CMS.signDetached(big, certificate: signer.certificate, key: signer.key)
        try CMS.verifyDetached(signature: signature, content: big, signer: signer.certificate)
    }
}

/// `openssl cms` as the independent oracle for our CMS profile.
@Suite struct CMSInteropTests {
    func prepare(_ kind: KeyKind = .p256) throws -> (TempDir, CMSTests.Signer) {
        let dir = try TempDir()
        let signer = try CMSTests.Signer(kind)
        try dir.write("ca.pem", signer.ca.certificate.pemString)
        try dir.write("signer.pem", signer.certificate.pemString)
        try dir.write("key.pem", signer.key.pkcs8PEM)
        try dir.write("data.bin", bytes: Array("Zeile 1\r\nZeile 2\nEnde\u{0}".utf8))
        return (dir, signer)
    }

    static let verifyArguments = [
        "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s", "-content", "data.bin",
        "-certfile", "signer.pem", "-CAfile", "ca.pem", "-purpose", "any", "-out", "/dev/null"
    ]

    @Test(arguments: [KeyKind.p256, .brainpoolP384r1, .rsa(bits: 3072)])
    func opensslVerifiesOurSignature(kind: KeyKind) throws {
        let (dir, signer) = try prepare(kind)
        try dir.write("sig.p7s", bytes: try CMS.signDetached(try dir.read("data.bin"), certificate: signer.certificate, key: signer.key))
        let ok = try OpenSSLCLI.run(Self.verifyArguments, in: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stderr.contains("Verification successful"))
        try dir.write("data.bin", bytes: try dir.read("data.bin") + [0x0a])
        let tampered = try OpenSSLCLI.run(Self.verifyArguments, in: dir)
        #expect(tampered.status != 0)
        // The structure OpenSSL sees: issuerAndSerialNumber, signingTime, no certificates.
        let printed = try OpenSSLCLI.run(["cms", "-cmsout", "-print", "-inform", "DER", "-in", "sig.p7s", "-noout"], in: dir).stdout
        #expect(printed.contains("issuer") && printed.contains("serialNumber"))
        #expect(printed.contains("signingTime"))
        #expect(printed.contains("certificates:\n      <ABSENT>"))
        switch kind {
        case .rsa: #expect(printed.contains("rsassaPss"))
        case .brainpoolP384r1: #expect(printed.contains("ecdsa-with-SHA384"))
        default: #expect(printed.contains("ecdsa-with-SHA256"))
        }
        #expect(printed.contains("eContent: <ABSENT>"))
    }

    @Test func opensslVerifiesNoAttributeAndEmbeddedVariants() throws {
        let (dir, signer) = try prepare()
        let data = try dir.read("data.bin")
        try dir.write(
            "sig.p7s",
            bytes: try CMS.signDetached(data, certificate: signer.certificate, key: signer.key, embedCertificate: true, signingTime: false))
        let args = [
            "cms", "-verify", "-binary", "-inform", "DER", "-in", "sig.p7s", "-content", "data.bin", "-CAfile", "ca.pem", "-purpose", "any",
            "-out", "/dev/null"
        ]
        let ok = try OpenSSLCLI.run(args, in: dir)
        #expect(ok.status == 0, "\(ok.stderr)")
    }

    @Test(arguments: [KeyKind.p256, .rsa(bits: 3072)])
    func weVerifyOpenSSLSignatures(kind: KeyKind) throws {
        let (dir, signer) = try prepare(kind)
        var pss: [String] = []
        if case .rsa = kind { pss = ["-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:digest"] }
        let signed = try OpenSSLCLI.run(
            [
                "cms", "-sign", "-binary", "-outform", "DER", "-in", "data.bin", "-signer", "signer.pem",
                "-inkey", "key.pem", "-md", "sha256", "-nocerts", "-out", "sig.p7s"
            ] + pss, in: dir)
        try #require(signed.status == 0, "\(signed.stderr)")
        let signature = try dir.read("sig.p7s")
        let id = try CMS.signerIdentifier(of: signature)
        #expect(id.serialNumberHex == signer.certificate.serialNumberHex)
        #expect(id.issuer == signer.ca.certificate.subject)
        try CMS.verifyDetached(signature: signature, content: try dir.read("data.bin"), signer: signer.certificate)
        #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: signature, content: try dir.read("data.bin") + [1], signer: signer.certificate)
        }
    }

    @Test func profileViolationsFromOpenSSLAreRefused() throws {
        let (dir, signer) = try prepare()
        let data = try dir.read("data.bin")
        let base = ["cms", "-sign", "-binary", "-outform", "DER", "-in", "data.bin", "-signer", "signer.pem", "-inkey", "key.pem"]
        try #require(try OpenSSLCLI.run(base + ["-md", "sha1", "-out", "sha1.p7s"], in: dir).status == 0)
        let sha1 = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: try dir.read("sha1.p7s"), content: data, signer: signer.certificate)
        }
        #expect(sha1?.code == .profileViolation)
        try #require(try OpenSSLCLI.run(base + ["-md", "sha512", "-nocerts", "-out", "sha512.p7s"], in: dir).status == 0)
        let sha512 = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: try dir.read("sha512.p7s"), content: data, signer: signer.certificate)
        }
        #expect(sha512?.code == .profileViolation)
        #expect(sha512?.message.contains("SHA512") == true)
        try #require(try OpenSSLCLI.run(base + ["-md", "sha256", "-nodetach", "-out", "attached.p7s"], in: dir).status == 0)
        let attached = #expect(throws: CryptoError.self) {
            try CMS.verifyDetached(signature: try dir.read("attached.p7s"), content: data, signer: signer.certificate)
        }
        #expect(attached?.code == .profileViolation)
        try #require(try OpenSSLCLI.run(base + ["-md", "sha256", "-keyid", "-out", "keyid.p7s"], in: dir).status == 0)
        let keyid = #expect(throws: CryptoError.self) { try CMS.signerIdentifier(of: try dir.read("keyid.p7s")) }
        #expect(keyid?.code == .profileViolation)
    }
}

@Suite struct ConcurrencyTests {
    /// Shared immutable keys/certificates are used from many tasks at once (the @unchecked Sendable claims).
    @Test func sharedObjectsSignAndVerifyConcurrently() async throws {
        let signer = try CMSTests.Signer()
        let rsa = try PrivateKey.generate(.rsa(bits: 3072))
        let data = Array("parallel".utf8)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for i in 0..<25 {
                        let content = data + [UInt8(task), UInt8(i)]
                        let signature = try CMS.signDetached(content, certificate: signer.certificate, key: signer.key)
                        try CMS.verifyDetached(signature: signature, content: content, signer: signer.certificate)
                        #expect(signer.certificate.publicKey.verify(signature: try signer.key.sign(content), for: content))
                        if i % 5 == 0 {
                            #expect(rsa.publicKey.verify(signature: try rsa.sign(content), for: content))
                        }
                        #expect(signer.certificate.subjectAlternativeNames == ["URI:urn:klammer:participant:signer"])
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}
