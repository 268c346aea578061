import Foundation
import KlammerCrypto
import KlammerTestSupport
import Testing

/// `klammerctl pki init`, run as a process.
@Suite struct PKIInitTests {
    @Test func initCreatesTheCAWithPrivateModes() throws {
        let tmp = try TempDir()
        let result = try ProcessRunner.klammerctl(["pki", "init", "--dir", "ca", "--name", "Klammer CA MV"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        for file in ["ca/ca.pem", "ca/ca-key.pem", "ca/crl.pem", "ca/ca.json", "ca/certificates.json"] {
            #expect(tmp.exists(file), "\(file) missing")
        }
        #expect(try tmp.mode("ca") == 0o700)
        #expect(try tmp.mode("ca/ca-key.pem") == 0o600)
        let ca = try #require(try Certificate.loadAll(fromPEMFile: tmp.path("ca/ca.pem")).first)
        #expect(ca.isCA)
        #expect(ca.commonName == "Klammer CA MV")
        #expect(result.stdout.contains(ca.fingerprint.hex))
        let crl = try #require(try CertificateRevocationList.loadAll(fromPEMFile: tmp.path("ca/crl.pem")).first)
        #expect(crl.isSigned(by: ca))
        #expect(crl.revokedSerialNumbers.isEmpty)
    }

    @Test func secondInitIsRefusedAndChangesNothing() throws {
        let tmp = try TempDir()
        #expect(try ProcessRunner.klammerctl(["pki", "init", "--dir", "ca"], in: tmp).status == 0)
        let before = FileManager.default.contents(atPath: tmp.path("ca/ca-key.pem"))
        let again = try ProcessRunner.klammerctl(["pki", "init", "--dir", "ca"], in: tmp)
        #expect(again.status != 0)
        #expect(again.stderr.contains("already holds a CA"))
        #expect(again.stderr.contains("refusing to overwrite"))
        #expect(FileManager.default.contents(atPath: tmp.path("ca/ca-key.pem")) == before)
    }

    @Test func caKeyOutsideTheDirectoryIsRecordedAndUsed() throws {
        let tmp = try TempDir()
        try FileManager.default.createDirectory(atPath: tmp.path("vault"), withIntermediateDirectories: false)
        let result = try ProcessRunner.klammerctl(
            ["pki", "init", "--dir", "ca", "--ca-key", "vault/ca.key", "--key-kind", "p384"], in: tmp)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!tmp.exists("ca/ca-key.pem"))
        #expect(try tmp.mode("vault/ca.key") == 0o600)
        let configuration = try String(contentsOfFile: tmp.path("ca/ca.json"), encoding: .utf8)
        #expect(configuration.contains(tmp.path("vault/ca.key")))
        // Issuing finds the key through ca.json (and the directory through the environment).
        let issued = try ProcessRunner.klammerctl(
            ["pki", "issue", "--id", "ags:13004000", "--name", "Mitte", "--out", "p"], in: tmp,
            environment: ["KLAMMER_PKI_DIR": tmp.path("ca")])
        #expect(issued.status == 0, "\(issued.stderr)")
    }

    @Test func missingDirectoryIsExplained() throws {
        let tmp = try TempDir()
        let result = try ProcessRunner.klammerctl(["pki", "list"], in: tmp)
        #expect(result.status != 0)
        #expect(result.stderr.contains("KLAMMER_PKI_DIR"))
    }

    @Test func completionScriptsAreGenerated() throws {
        let tmp = try TempDir()
        for shell in ["bash", "zsh", "fish"] {
            let result = try ProcessRunner.klammerctl(["--generate-completion-script", shell], in: tmp)
            #expect(result.status == 0, "\(shell): \(result.stderr)")
            #expect(result.stdout.contains("klammerctl"))
        }
        let bash = try ProcessRunner.klammerctl(["--generate-completion-script", "bash"], in: tmp)
        #expect(bash.stdout.contains("expiring"))
        // Load it into bash and complete `klammerctl pki issue --key-kind <TAB>`.
        try bash.stdout.write(toFile: tmp.path("completion.bash"), atomically: true, encoding: .utf8)
        let script = """
            source completion.bash
            COMP_WORDS=(klammerctl pki issue --key-kind ""); COMP_CWORD=4
            COMP_LINE="klammerctl pki issue --key-kind "; COMP_POINT=${#COMP_LINE}
            _klammerctl klammerctl "" --key-kind
            echo "${COMPREPLY[*]}"
            """
        let binDirectory = (ProcessRunner.klammerctl as NSString).deletingLastPathComponent
        let completed = try ProcessRunner.run(
            "/bin/bash", ["-c", script], in: tmp,
            environment: ["PATH": binDirectory + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")])
        #expect(completed.stdout.contains("brainpoolP256r1"), "\(completed.stdout)\(completed.stderr)")
    }
}
