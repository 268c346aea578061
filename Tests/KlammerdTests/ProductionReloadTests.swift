import Foundation
import KlammerAdmin
import KlammerCrypto
import KlammerTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// `klammerctl reload` against the real `klammerd --config`: configuration changes that need a restart are listed,
/// a new CRL refuses the revoked certificate on new connections, and a broken file changes nothing.
@Suite(.serialized) struct ProductionReloadTests {
    @Test func reloadRereadsTheConfiguredFiles() throws {
        let temp = try ShortTemporaryDirectory()
        let (config, ca) = try KlammerdHarness.writeProductionSetup(in: temp.path)
        let metricsPort = try KlammerdHarness.freePort()
        let daemon = try KlammerdProcess(
            arguments: ["--config", config], logDirectory: temp.path,
            environment: [
                "KLAMMER_LISTEN_PORT": "0", "KLAMMER_METRICS_PORT": "\(metricsPort)"
            ])
        func ctl(_ arguments: String...) throws -> ProcessResult {
            try KlammerdHarness.run("klammerctl", arguments, environment: ["KLAMMER_ADMIN_SOCKET": daemon.socket], in: temp.path)
        }
        let key = try PrivateKey.generate(.p256)
        let certificate = try ca.issue(
            commonName: "Amt Banzkow", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:13076007"], publicKey: key.publicKey,
            usage: .client)
        try certificate.pemString.write(toFile: temp.path + "/p.pem", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(
            atPath: temp.path + "/p.key", contents: Data(key.pkcs8PEM.utf8), attributes: [.posixPermissions: 0o600])
        #expect(try ctl("participant", "add", "--id", "ags:13076007", "--name", "Amt Banzkow", "--cert", temp.path + "/p.pem").status == 0)
        func admitted() throws -> Bool {
            try KlammerdHarness.sClient(
                port: daemon.port, ca: temp.path + "/ca.pem", cert: temp.path + "/p.pem", key: temp.path + "/p.key", in: temp.path
            )
            .contains("exceeds limit")
        }
        #expect(try admitted())

        // metrics.port serves /metrics and /healthz.
        let health = try KlammerdHarness.run(
            "/usr/bin/timeout", ["-k", "2", "10", "curl", "-s", "-w", "\n%{http_code}", "http://127.0.0.1:\(metricsPort)/healthz"],
            in: temp.path)
        #expect(health.stdout.hasSuffix("\n200") && health.stdout.contains("broker_certificate"))
        let metrics = try KlammerdHarness.run(
            "/usr/bin/timeout", ["-k", "2", "10", "curl", "-s", "http://127.0.0.1:\(metricsPort)/metrics"], in: temp.path)
        #expect(metrics.stdout.contains("klammer_connections_open"))

        // A changed log level cannot be applied live: reported, not applied.
        let text = try String(contentsOfFile: config, encoding: .utf8).replacingOccurrences(of: "level: warning", with: "level: info")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let first = try ctl("reload", "--json")
        #expect(first.status == 0, "\(first.stderr)")
        let view = try AdminJSON.decoder().decode(AdminReloadView.self, from: Data(first.stdout.utf8))
        #expect(view.restartRequired == ["log.level"] && view.crls == 1 && view.caCertificates == 1)
        #expect(view.brokerCertificate.contains("klammer-test-broker"))

        // The CA revokes the participant's certificate; after the reload new connections are refused.
        let crl = try ca.makeCRL(revoked: [(certificate.serialNumberHex, Date())])
        try crl.pemString.write(toFile: temp.path + "/crl.pem", atomically: true, encoding: .utf8)
        #expect(try ctl("reload").status == 0)
        #expect(try !admitted())

        // A key others can read is refused: nothing changes, the daemon keeps serving.
        chmod(temp.path + "/broker.key", 0o644)
        let broken = try ctl("reload")
        #expect(broken.status != 0 && broken.stderr.contains("reload-failed") && broken.stderr.contains("tls.key"))
        #expect(try ctl("status").status == 0)
        let tail = try ctl("audit", "tail", "-n", "10", "--json")
        #expect(tail.stdout.contains("\"reload\"") && tail.stdout.contains("\"failed\""))
        #expect(daemon.stop() == 0)
    }
}
