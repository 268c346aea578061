import Foundation
import KlammerAdmin
import KlammerAudit
import KlammerCrypto
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// The admin API over mutual TLS (`admin.tls.*`, SPEC.md §11.1) on the real `klammerd --config`, driven by curl (a
/// client we did not write) and by the real `klammerctl --admin-url`.
@Suite(.serialized) struct AdminTLSProcessTests {
    /// An admin certificate from the test CA, written as PEM files (key mode 0600).
    struct Admin {
        let certificate: Certificate
        let certificatePath: String
        let keyPath: String

        init(_ name: String, ca: CertificateAuthority, in directory: String) throws {
            let key = try PrivateKey.generate(.p256)
            certificate = try ca.issue(commonName: name, publicKey: key.publicKey, usage: .client)
            certificatePath = directory + "/\(name).pem"
            keyPath = directory + "/\(name).key"
            try certificate.pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
            _ = FileManager.default.createFile(atPath: keyPath, contents: Data(key.pkcs8PEM.utf8), attributes: [.posixPermissions: 0o600])
        }
    }

    /// curl bounded by coreutils timeout; `-w` appends the HTTP status on its own line.
    static func curl(_ arguments: [String], in directory: String) throws -> AdminProcessTests.Result {
        try AdminProcessTests.run("/usr/bin/timeout", ["-k", "2", "15", "curl", "-sS", "-w", "\n%{http_code}"] + arguments, in: directory)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")))
    func listedAdminCertificateIsServedOthersAreRefused() throws {
        let temp = try AdminProcessTests.TempDir()
        let (config, ca) = try AdminProcessTests.writeProductionSetup(in: temp.path)
        let alice = try Admin("operator-alice", ca: ca, in: temp.path)
        let mallory = try Admin("operator-mallory", ca: ca, in: temp.path)
        let daemon = try AdminProcessTests.Daemon(
            arguments: ["--config", config], logDirectory: temp.path,
            environment: [
                "KLAMMER_LISTEN_PORT": "0", "KLAMMER_ADMIN_TLS_LISTEN": "127.0.0.1:0",
                // Upper case, as openssl prints fingerprints.
                "KLAMMER_ADMIN_TLS_CLIENT_FINGERPRINTS": alice.certificate.fingerprint.hex.uppercased()
            ],
            waitForAdminTLS: true)
        let url = "https://127.0.0.1:\(daemon.adminTLSPort)"
        let caFile = temp.path + "/ca.pem"

        // curl with the listed admin certificate: the same API as on the socket.
        let status = try Self.curl(
            ["--cert", alice.certificatePath, "--key", alice.keyPath, "--cacert", caFile, url + "/v1/status"], in: temp.path)
        #expect(status.status == 0, "\(status.stderr) \(daemon.log)")
        #expect(status.stdout.hasSuffix("\n200"))
        let body = status.stdout.split(separator: "\n").dropLast().joined(separator: "\n")
        let curlView = try AdminJSON.decoder().decode(AdminStatusView.self, from: Data(body.utf8))
        #expect(curlView.brokerId == "broker:test-1" && curlView.mode == "production")

        // A mutation over TLS with klammerctl: register a participant.
        let key = try PrivateKey.generate(.p256)
        let participant = try ca.issue(
            commonName: "Amt Banzkow", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:13076007"], publicKey: key.publicKey,
            usage: .client)
        try participant.pemString.write(toFile: temp.path + "/banzkow.pem", atomically: true, encoding: .utf8)
        let tlsOptions = ["--admin-url", url, "--admin-cert", alice.certificatePath, "--admin-key", alice.keyPath, "--admin-ca", caFile]
        let add = try AdminProcessTests.run(
            "klammerctl",
            ["participant", "add", "--id", "ags:13076007", "--name", "Amt Banzkow", "--cert", temp.path + "/banzkow.pem"] + tlsOptions,
            in: temp.path)
        #expect(add.status == 0, "\(add.stderr)")
        #expect(add.stdout.contains("added ags:13076007"))
        let ctlStatus = try AdminProcessTests.run("klammerctl", ["status", "--json"] + tlsOptions, in: temp.path)
        #expect(ctlStatus.status == 0, "\(ctlStatus.stderr)")
        let view = try AdminJSON.decoder().decode(AdminStatusView.self, from: Data(ctlStatus.stdout.utf8))
        #expect(view.participants.total == 1 && view.brokerId == "broker:test-1")

        // A certificate from the same CA that is not listed: refused before any request is served.
        let refused = try Self.curl(
            ["--cert", mallory.certificatePath, "--key", mallory.keyPath, "--cacert", caFile, url + "/v1/status"], in: temp.path)
        #expect(refused.status != 0)
        #expect(!refused.stdout.contains("broker_id"))
        let refusedCtl = try AdminProcessTests.run(
            "klammerctl",
            [
                "participant", "suspend", "ags:13076007", "--admin-url", url, "--admin-cert", mallory.certificatePath, "--admin-key",
                mallory.keyPath, "--admin-ca", caFile
            ],
            in: temp.path)
        #expect(refusedCtl.status == 1)
        #expect(
            refusedCtl.stderr.contains("not admitted") || refusedCtl.stderr.contains("admin.tls.client_fingerprints"),
            "\(refusedCtl.stderr)")

        // No client certificate at all: the handshake fails.
        let anonymous = try Self.curl(["--cacert", caFile, url + "/v1/status"], in: temp.path)
        #expect(anonymous.status != 0)
        #expect(!anonymous.stdout.contains("broker_id"))

        // Nothing changed, and the audit log names the admin certificate as the actor (and the refused one).
        let list = try AdminProcessTests.run(
            "klammerctl", ["participant", "show", "ags:13076007", "--socket", daemon.socket], in: temp.path)
        #expect(list.stdout.contains("status      active"))
        let tail = try AdminProcessTests.run(
            "klammerctl", ["audit", "tail", "-n", "30", "--json", "--socket", daemon.socket], in: temp.path)
        let entries = try AdminJSON.decoder().decode([AuditEntry].self, from: Data(tail.stdout.utf8))
        let aliceActor = "tls:\(alice.certificate.fingerprint.hex) \(alice.certificate.subject)"
        #expect(entries.contains { $0.action == "participant.add" && $0.actor == aliceActor && $0.outcome == .ok })
        #expect(entries.contains { $0.action == "status" && $0.actor == aliceActor })
        #expect(
            entries.contains {
                $0.action == "admin.connect" && $0.outcome == .refused && $0.actor.hasPrefix("tls:\(mallory.certificate.fingerprint.hex)")
            })
        #expect(!entries.contains { $0.action == "participant.suspend" })
        let verify = try AdminProcessTests.run("klammerctl", ["audit", "verify", "--socket", daemon.socket], in: temp.path)
        #expect(verify.status == 0, "\(verify.stderr)")

        // A CRL that revokes the admin certificate shuts it out after a reload (the admin listener follows the
        // broker's trust store), without a restart.
        let crl = try ca.makeCRL(revoked: [(alice.certificate.serialNumberHex, Date())])
        try crl.pemString.write(toFile: temp.path + "/crl.pem", atomically: true, encoding: .utf8)
        let reload = try AdminProcessTests.run("klammerctl", ["reload", "--socket", daemon.socket], in: temp.path)
        #expect(reload.status == 0, "\(reload.stderr)")
        let revoked = try Self.curl(
            ["--cert", alice.certificatePath, "--key", alice.keyPath, "--cacert", caFile, url + "/v1/status"], in: temp.path)
        #expect(revoked.status != 0)
        #expect(!revoked.stdout.contains("broker_id"))
    }
}
