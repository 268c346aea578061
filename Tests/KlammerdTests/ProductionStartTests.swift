import Foundation
import KlammerCrypto
import KlammerTestSupport
import Testing
#if canImport(Glibc)
    import Glibc
#endif

/// Production mode's start: an invalid configuration fails naming the key, and `limits.max_connections` holds.
@Suite(.serialized) struct ProductionStartTests {
    /// `limits.max_connections`: with one slot taken by an idle TCP connection, a registered participant's
    /// connection is closed at accept; once the slot is free it reaches the session.
    @Test func productionConnectionLimit() throws {
        let temp = try ShortTemporaryDirectory()
        let (config, ca) = try KlammerdHarness.writeProductionSetup(in: temp.path)
        let daemon = try KlammerdProcess(
            arguments: ["--config", config], logDirectory: temp.path,
            environment: ["KLAMMER_LISTEN_PORT": "0", "KLAMMER_LIMITS_MAX_CONNECTIONS": "1"])
        let key = try PrivateKey.generate(.p256)
        let certificate = try ca.issue(
            commonName: "Amt Banzkow", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:13076007"], publicKey: key.publicKey,
            usage: .client)
        try certificate.pemString.write(toFile: temp.path + "/p.pem", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(
            atPath: temp.path + "/p.key", contents: Data(key.pkcs8PEM.utf8), attributes: [.posixPermissions: 0o600])
        let add = try KlammerdHarness.run(
            "klammerctl",
            [
                "participant", "add", "--id", "ags:13076007", "--name", "Amt Banzkow", "--cert", temp.path + "/p.pem", "--socket",
                daemon.socket
            ], in: temp.path)
        #expect(add.status == 0, "\(add.stderr)")

        // Take the only slot with a plain TCP connection that never starts TLS (the handshake timeout is 10 s).
        let idle = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(daemon.port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(idle, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let refused = try KlammerdHarness.sClient(
            port: daemon.port, ca: temp.path + "/ca.pem", cert: temp.path + "/p.pem", key: temp.path + "/p.key", in: temp.path)
        #expect(!refused.contains("exceeds limit"))
        close(idle)
        // The slot is freed when the daemon notices the close; bounded polling instead of a fixed sleep.
        var admitted = ""
        let deadline = Date() + 10
        while Date() < deadline, !admitted.contains("exceeds limit") {
            admitted = try KlammerdHarness.sClient(
                port: daemon.port, ca: temp.path + "/ca.pem", cert: temp.path + "/p.pem", key: temp.path + "/p.key", in: temp.path)
        }
        #expect(admitted.contains("exceeds limit"))
        #expect(daemon.stop() == 0)
    }

    @Test func invalidConfigurationFailsAtStartNamingTheKey() throws {
        let temp = try ShortTemporaryDirectory()
        let config = try KlammerdHarness.writeProductionSetup(in: temp.path).config
        let badPort = try KlammerdHarness.run(
            "klammerd", ["--config", config], environment: ["KLAMMER_LISTEN_PORT": "99999"], in: temp.path)
        #expect(badPort.status == 64)
        #expect(badPort.stderr.contains("listen.port (from environment variable KLAMMER_LISTEN_PORT): 99999 is outside 0…65535"))

        try (try String(contentsOfFile: config, encoding: .utf8) + "\nstore:\n  durabilty: always\n").write(
            toFile: config, atomically: true, encoding: .utf8)
        let typo = try KlammerdHarness.run("klammerd", ["--config", config], in: temp.path)
        #expect(typo.status == 64)
        #expect(typo.stderr.contains("unknown-key"))
        #expect(typo.stderr.contains("store.durabilty"))

        _ = try KlammerdHarness.writeProductionSetup(in: temp.path)
        chmod(temp.path + "/broker.key", 0o644)
        let openKey = try KlammerdHarness.run("klammerd", ["--config", config], in: temp.path)
        #expect(openKey.status == 64)
        #expect(openKey.stderr.contains("tls.key"))
        #expect(openKey.stderr.contains("chmod 600"))
        #expect(!FileManager.default.fileExists(atPath: temp.path + "/data/audit.jsonl"))

        let mixed = try KlammerdHarness.run("klammerd", ["--config", config, "--port", "9999"], in: temp.path)
        #expect(mixed.status == 64)
        #expect(mixed.stderr.contains("KLAMMER_LISTEN_PORT"))

        let neither = try KlammerdHarness.run("klammerd", [], in: temp.path)
        #expect(neither.status == 64)
        #expect(neither.stderr.contains("--config"))
    }
}
