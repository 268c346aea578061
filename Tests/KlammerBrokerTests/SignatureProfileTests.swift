import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import Testing

/// The broker enforces the CMS signature profile of SPEC.md §3.5: every violation is refused with
/// SIGNATURE_PROFILE_VIOLATION and a message that names what was wrong (not "does not verify").
@Suite(.timeLimit(.minutes(2))) struct SignatureProfileTests {
    /// One way to sign the envelope bytes outside the profile, and a word the refusal must contain.
    struct Violation: CustomStringConvertible, Sendable {
        let description: String
        let rsa: Bool
        let expected: String
        /// `openssl cms -sign` arguments after `-signer/-inkey` (nil: `CMS.signDetached` with `embed`/`noAttributes`).
        let openssl: [String]?
        var embed = false
        var noAttributes = false
    }

    static let violations: [Violation] = [
        Violation(description: "embedded certificate", rsa: false, expected: "certificate", openssl: nil, embed: true),
        Violation(description: "no signed attributes", rsa: false, expected: "signed attributes", openssl: nil, noAttributes: true),
        Violation(description: "SHA-1 digest", rsa: false, expected: "SHA1", openssl: ["-md", "sha1", "-nocerts"]),
        Violation(description: "SHA-512 with P-256", rsa: false, expected: "SHA512", openssl: ["-md", "sha512", "-nocerts"]),
        Violation(
            description: "embedded content", rsa: false, expected: "embeds its content", openssl: ["-md", "sha256", "-nocerts", "-nodetach"]
        ),
        Violation(
            description: "signer by subjectKeyIdentifier", rsa: false, expected: "subjectKeyIdentifier",
            openssl: ["-md", "sha256", "-nocerts", "-keyid"]),
        Violation(description: "RSA PKCS#1 v1.5", rsa: true, expected: "PKCS#1 v1.5", openssl: ["-md", "sha256", "-nocerts"]),
        Violation(
            description: "RSASSA-PSS with salt 20", rsa: true, expected: "salt 20",
            openssl: ["-md", "sha256", "-nocerts", "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:20"])
    ]

    @Test(arguments: violations)
    func violationIsRefusedWithItsOwnCode(_ violation: Violation) async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        let envelope = try f.envelope(payload: [1, 2, 3], clientID: "profile-\(violation.description.filter(\.isLetter))")
        var certificate = f.party(BrokerFixture.sender).certificate
        var key = f.party(BrokerFixture.sender).key
        if violation.rsa {
            key = try PrivateKey.generate(.rsa(bits: 3072))
            certificate = try f.ca.issue(
                commonName: "RSA", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.sender)"],
                publicKey: key.publicKey, usage: .client)
            _ = try f.registry.addCertificate(certificate, to: BrokerFixture.sender)
        }
        let signature: [UInt8]
        if let arguments = violation.openssl {
            let dir = try TemporaryDirectory()
            _ = try dir.write("data.bin", bytes: envelope.canonicalBytes)
            _ = try dir.write("signer.pem", certificate.pemString)
            _ = try dir.write("key.pem", key.pkcs8PEM)
            let result = try ProcessRunner.run(
                "/usr/bin/openssl",
                [
                    "cms", "-sign", "-binary", "-outform", "DER", "-in", dir.file("data.bin"),
                    "-signer", dir.file("signer.pem"), "-inkey", dir.file("key.pem"),
                    "-out", dir.file("sig.p7s")
                ] + arguments, timeoutSeconds: 20)
            try #require(result.status == 0, "\(result.stderr)")
            signature = try dir.read("sig.p7s")
        } else {
            signature = try CMS.signDetached(
                envelope.canonicalBytes, certificate: certificate, key: key,
                embedCertificate: violation.embed, signingTime: !violation.noAttributes)
        }
        var refusal: ProtocolError?
        do { _ = try await f.send(envelope, payload: [1, 2, 3], signature: signature) } catch let error as ProtocolError { refusal = error }
        let error = try #require(refusal, "\(violation) was accepted")
        #expect(error.code == .signatureProfileViolation && error.code.rawValue == 3014, "\(violation): \(error)")
        #expect(error.message.contains(violation.expected), "\(violation): \(error.message)")
        #expect(!error.message.contains("does not verify"), "\(violation): \(error.message)")
        // A signed rejected receipt precedes the ERROR (SPEC.md §7.5).
        let rejected = try #require(
            f.broker.rejectedReceipt(for: envelope, participant: f.participant(BrokerFixture.sender), refusal: error, atFinish: true))
        #expect(rejected.receipt.reason == .signatureProfileViolation)
    }

    /// The profile Klammer itself produces passes, for EC and RSA signers (PSS, SHA-256, salt 32), also made by openssl.
    @Test func conformingSignaturesAreAccepted() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        let first = try f.envelope(payload: [1], clientID: "profile-ok-ec")
        #expect(try await f.send(first, payload: [1]).receipt.kind == .accepted)
        let key = try PrivateKey.generate(.rsa(bits: 3072))
        let certificate = try f.ca.issue(
            commonName: "RSA", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.sender)"],
            publicKey: key.publicKey, usage: .client)
        _ = try f.registry.addCertificate(certificate, to: BrokerFixture.sender)
        let second = try f.envelope(payload: [2], clientID: "profile-ok-rsa")
        #expect(
            try await f.send(
                second, payload: [2], signature: try CMS.signDetached(second.canonicalBytes, certificate: certificate, key: key)
            ).receipt.kind == .accepted)
        let dir = try TemporaryDirectory()
        let third = try f.envelope(payload: [3], clientID: "profile-ok-openssl")
        _ = try dir.write("data.bin", bytes: third.canonicalBytes)
        _ = try dir.write("signer.pem", certificate.pemString)
        _ = try dir.write("key.pem", key.pkcs8PEM)
        let result = try ProcessRunner.run(
            "/usr/bin/openssl",
            [
                "cms", "-sign", "-binary", "-outform", "DER", "-in", dir.file("data.bin"),
                "-signer", dir.file("signer.pem"), "-inkey", dir.file("key.pem"), "-md", "sha256", "-nocerts",
                "-keyopt", "rsa_padding_mode:pss", "-keyopt", "rsa_pss_saltlen:digest", "-out", dir.file("sig.p7s")
            ],
            timeoutSeconds: 20)
        try #require(result.status == 0, "\(result.stderr)")
        #expect(try await f.send(third, payload: [3], signature: try dir.read("sig.p7s")).receipt.kind == .accepted)
    }
}
