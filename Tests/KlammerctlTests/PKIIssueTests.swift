import Foundation
import KlammerCrypto
import KlammerTestSupport
import Testing

/// `klammerctl pki issue`, with generated keys and with CSRs.
@Suite struct PKIIssueTests {
    /// A temp dir with an initialised CA in `ca`.
    static func makeCA() throws -> TempDir {
        let tmp = try TempDir()
        let result = try ProcessRunner.klammerctl(["pki", "init", "--dir", "ca"], in: tmp)
        guard result.status == 0 else { throw CAInitFailed(stderr: result.stderr) }
        return tmp
    }

    struct CAInitFailed: Error { let stderr: String }

    @Test func issuedCertificateChainsToTheCAAndNamesTheParticipant() throws {
        let tmp = try Self.makeCA()
        let result = try ProcessRunner.klammerctl(
            ["pki", "issue", "--dir", "ca", "--id", "ags:13004000", "--name", "Bezirksamt Mitte", "--out", "p"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        let ca = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("ca/ca.pem")).first)
        let leaf = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("p/cert.pem")).first)
        _ = try TrustStore(anchors: [ca]).verify(leaf, purpose: .any)
        #expect(leaf.klammerParticipantID == "ags:13004000")
        #expect(leaf.subjectAlternativeNames == ["URI:urn:klammer:participant:ags:13004000"])
        #expect(leaf.commonName == "Bezirksamt Mitte")
        #expect(result.stdout.contains(leaf.fingerprint.hex))
        #expect(try tmp.mode("p/key.pem") == 0o600)
        let key = try PrivateKey.load(fromFile: tmp.path("p/key.pem"))
        #expect(key.matches(leaf.publicKey))
        // Recorded in the database.
        let list = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--json"], in: tmp)
        #expect(list.stdout.contains(leaf.fingerprint.hex))
        #expect(list.stdout.contains(leaf.serialNumberHex))
    }

    @Test func invalidParticipantIDIsRefusedClearly() throws {
        let tmp = try Self.makeCA()
        for id in ["13004000", "AGS:1", "ags:", "ags:a/b"] {
            let result = try ProcessRunner.klammerctl(["pki", "issue", "--dir", "ca", "--id", id, "--name", "x", "--out", "p"], in: tmp)
            #expect(result.status != 0, "\(id) accepted")
            #expect(result.stderr.contains("is not a participant id"))
            #expect(result.stderr.contains("scheme:value"))
        }
        #expect(!tmp.exists("p/cert.pem"))
    }

    @Test func existingOutputIsNotOverwritten() throws {
        let tmp = try Self.makeCA()
        let args = ["pki", "issue", "--dir", "ca", "--id", "ags:1", "--name", "x", "--out", "p"]
        #expect(try ProcessRunner.klammerctl(args, in: tmp).status == 0)
        let again = try ProcessRunner.klammerctl(args, in: tmp)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already exists"))
    }

    @Test func existingOutDirectoryOthersCanReadOrWriteIsRefusedBeforeIssuing() throws {
        let tmp = try Self.makeCA()
        try FileManager.default.createDirectory(atPath: tmp.path("p"), withIntermediateDirectories: false)
        let args = ["pki", "issue", "--dir", "ca", "--id", "ags:1", "--name", "x", "--out", "p"]
        for mode in [0o777, 0o755] as [mode_t] {
            #expect(chmod(tmp.path("p"), mode) == 0)
            let refused = try ProcessRunner.klammerctl(args, in: tmp)
            #expect(refused.status != 0, "mode \(String(mode, radix: 8)) accepted")
            #expect(refused.stderr.contains("refusing --out p") && refused.stderr.contains("chmod 700 p"), "\(refused.stderr)")
            #expect(!tmp.exists("p/key.pem"))
        }
        // Nothing was issued for the refused attempts.
        let list = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--json"], in: tmp)
        #expect(!list.stdout.contains("ags:1"), "\(list.stdout)")
        #expect(chmod(tmp.path("p"), 0o700) == 0)
        let issued = try ProcessRunner.klammerctl(args, in: tmp)
        #expect(issued.status == 0, "\(issued.stderr)")
        #expect(try tmp.mode("p/key.pem") == 0o600)
    }

    @Test func ecCSRIsSigned() throws {
        let tmp = try Self.makeCA()
        let made = try ProcessRunner.openssl(
            [
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=x",
                "-keyout", "csr.key", "-out", "p.csr"
            ], in: tmp)
        #expect(made.status == 0, "\(made.stderr)")
        let result = try ProcessRunner.klammerctl(
            ["pki", "issue", "--dir", "ca", "--id", "ags:13004000", "--name", "Mitte", "--csr", "p.csr", "--out", "p"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!tmp.exists("p/key.pem"))
        let ca = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("ca/ca.pem")).first)
        let leaf = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("p/cert.pem")).first)
        _ = try TrustStore(anchors: [ca]).verify(leaf, purpose: .any)
        #expect(leaf.commonName == "Mitte")
        #expect(leaf.klammerParticipantID == "ags:13004000")
        let key = try PrivateKey.load(fromFile: tmp.path("csr.key"))
        #expect(key.matches(leaf.publicKey))
        #expect(result.stdout.contains(leaf.fingerprint.hex))
    }

    @Test func weakRSACSRIsRefused() throws {
        let tmp = try Self.makeCA()
        let made = try ProcessRunner.openssl(
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=x", "-keyout", "csr.key", "-out", "p.csr"], in: tmp)
        #expect(made.status == 0, "\(made.stderr)")
        let result = try ProcessRunner.klammerctl(
            ["pki", "issue", "--dir", "ca", "--id", "ags:1", "--name", "x", "--csr", "p.csr", "--out", "p"], in: tmp)
        #expect(result.status != 0)
        #expect(result.stderr.contains("RSA-2048"))
        #expect(result.stderr.contains("minimum"))
        #expect(!tmp.exists("p/cert.pem"))
        let list = try ProcessRunner.klammerctl(["pki", "list", "--dir", "ca", "--json"], in: tmp)
        #expect(!list.stdout.contains("ags:1"))
    }

    @Test func tamperedCSRIsRefused() throws {
        let tmp = try Self.makeCA()
        #expect(
            try ProcessRunner.openssl(
                [
                    "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=abc",
                    "-keyout", "csr.key", "-outform", "DER", "-out", "p.der"
                ], in: tmp
            ).status == 0)
        var der = try #require(FileManager.default.contents(atPath: tmp.path("p.der")))
        // Change the subject CN "abc" to "abd": the self-signature no longer matches.
        let index = try #require(der.range(of: Data("abc".utf8)))
        der[index.lowerBound + 2] = UInt8(ascii: "d")
        try der.write(to: URL(fileURLWithPath: tmp.path("p.der")))
        let result = try ProcessRunner.klammerctl(
            ["pki", "issue", "--dir", "ca", "--id", "ags:1", "--name", "x", "--csr", "p.der", "--out", "p"], in: tmp)
        #expect(result.status != 0)
        #expect(result.stderr.contains("self-signature"))
    }
}
