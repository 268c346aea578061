import Foundation
import Testing
@testable import KlammerCrypto

/// CertificateSigningRequest against CSRs made by the openssl CLI.
@Suite struct CertificateSigningRequestTests {
    @Test func parsesAndVerifiesAnOpenSSLCSR() throws {
        let tmp = try TempDir()
        let made = try OpenSSLCLI.run(
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=Bezirksamt Mitte",
                "-keyout", "k.pem", "-out", "r.pem"
            ], in: tmp)
        #expect(made.status == 0, "\(made.stderr)")
        let request = try CertificateSigningRequest.load(fromFile: tmp.path("r.pem"))
        try request.verifySelfSignature()
        #expect(request.commonName == "Bezirksamt Mitte")
        let key = try PrivateKey.load(fromFile: tmp.path("k.pem"))
        #expect(try request.publicKey() == key.publicKey)
        // DER round trip.
        let der = try CertificateSigningRequest(der: request.derBytes)
        #expect(der.derBytes == request.derBytes)
        #expect(try CertificateSigningRequest(pem: request.pemString).derBytes == request.derBytes)
    }

    @Test func tamperedCSRFailsVerification() throws {
        let tmp = try TempDir()
        #expect(
            try OpenSSLCLI.run(
                [
                    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=abc",
                    "-keyout", "k.pem", "-outform", "DER", "-out", "r.der"
                ], in: tmp
            ).status == 0)
        var der = try tmp.read("r.der")
        let marker = Array("abc".utf8)
        let index = try #require((0...(der.count - 3)).first { Array(der[$0..<($0 + 3)]) == marker })
        der[index + 2] = UInt8(ascii: "d")
        let request = try CertificateSigningRequest(der: der)
        #expect(throws: CryptoError.self) { try request.verifySelfSignature() }
    }

    @Test func garbageIsRefused() {
        #expect(throws: CryptoError.self) { try CertificateSigningRequest(der: [0x30, 0x03, 0x02, 0x01, 0x01]) }
        #expect(throws: CryptoError.self) {
            try CertificateSigningRequest(pem: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")
        }
    }

    @Test func sha1SignedCSRIsRefused() throws {
        let tmp = try TempDir()
        let made = try OpenSSLCLI.run(
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=x", "-sha1",
                "-keyout", "k.pem", "-out", "r.pem"
            ], in: tmp)
        guard made.status == 0 else { return }  // an OpenSSL build that cannot sign with SHA-1 proves nothing here
        let request = try CertificateSigningRequest.load(fromFile: tmp.path("r.pem"))
        #expect(throws: CryptoError.self) { try request.verifySelfSignature() }
    }
}
