import Foundation
import KlammerCrypto
import KlammerTLS
import NIOCore
import NIOPosix
import Testing

/// Our handler against peers we did not write: the `openssl` CLI.
@Suite struct InteropTests {
    static let sClientBase = ["-alpn", "klammer/1", "-CAfile", "ca.pem", "-verify_return_error", "-no_ign_eof"]

    @Test func sClientWithCertificateReachesOurServer() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let client = try OpenSSLProcess(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", "client.pem", "-key", "client.key"] + Self.sClientBase, in: dir)
        client.send("hello from s_client\n")
        #expect(await eventually { server.allRecorders.first?.receivedString == "hello from s_client\n" })
        let status = await client.finish()
        let recorder = try #require(server.allRecorders.first)
        #expect(recorder.identity?.fingerprint == PKI.client.certificate.fingerprint)
        #expect(recorder.identity?.protocolVersion == .tls13)
        #expect(client.stdout.contains("ALPN protocol: klammer/1"))
        #expect(client.stdout.contains("New, TLSv1.3"))
        #expect(status == 0)
        #expect(await eventually { recorder.isInactive })
        #expect(recorder.tlsErrors.isEmpty, "clean close_notify expected: \(recorder.tlsErrors)")
    }

    /// TLS 1.3: the client's handshake finishes before the server has checked its certificate, so the refusal
    /// surfaces at the client's first read (as the `certificate required` alert), not at its handshake.
    @Test func sClientWithoutCertificateIsRefusedAtFirstRead() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let client = try OpenSSLProcess(["s_client", "-connect", "127.0.0.1:\(server.port)"] + Self.sClientBase, in: dir)
        client.send("let me in\n")
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        await client.finish()
        let recorder = try #require(server.allRecorders.first)
        #expect(recorder.tlsErrors.first?.code == .peerCertificateMissing)
        #expect(recorder.received.isEmpty)
        #expect(logs.contains("TLS connection refused: peer-certificate-missing"))
        #expect(client.stdout.contains("New, TLSv1.3"), "the client's handshake itself succeeded")
        #expect((client.stdout + client.stderr).contains("certificate required"))
    }

    /// `openssl s_client` without `-alpn`: refused in the handshake with the `no_application_protocol` alert (SPEC.md
    /// §1.9), not dropped without close_notify after it.
    @Test func sClientWithoutALPNGetsTheNoApplicationProtocolAlert() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let result = try await OpenSSLProcess.run(
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", "client.pem", "-key", "client.key",
                "-CAfile", "ca.pem", "-verify_return_error", "-no_ign_eof"
            ], in: dir, input: "x\n")
        #expect(result.status != 0)
        #expect((result.stdout + result.stderr).contains("no application protocol"), "\(result.stderr)")
        #expect(await eventually { server.allRecorders.first?.tlsErrors.first?.code == .noApplicationProtocol })
    }

    @Test func tls12ClientRefusedWhenOnlyTLS13IsAllowed() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let result = try await OpenSSLProcess.run(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-cert", "client.pem", "-key", "client.key"] + Self.sClientBase,
            in: dir, input: "x\n")
        #expect(result.status != 0)
        #expect(await eventually { server.allRecorders.first?.tlsErrors.first?.code == .protocolVersionRefused })
        #expect(logs.contains("TLS connection refused: protocol-version-refused"))
    }

    @Test func tls12WhenEnabledUsesECDHEWithAESGCM() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext { $0.minimumVersion = .tls12 }, logger: logs.logger)
        defer { Task { await server.close() } }
        let client = try OpenSSLProcess(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-cert", "client.pem", "-key", "client.key"] + Self.sClientBase,
            in: dir)
        client.send("over 1.2\n")
        #expect(await eventually { server.allRecorders.first?.receivedString == "over 1.2\n" })
        await client.finish()
        let identity = try #require(server.allRecorders.first?.identity)
        #expect(identity.protocolVersion == .tls12)
        #expect(identity.cipherSuite.hasPrefix("ECDHE-") && identity.cipherSuite.contains("GCM"))
        // A CBC-only or non-ECDHE client gets nothing.
        let cbc = try await OpenSSLProcess.run(
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-cipher",
                "ECDHE-ECDSA-AES128-SHA256:DHE-RSA-AES128-GCM-SHA256", "-cert", "client.pem", "-key", "client.key"
            ] + Self.sClientBase, in: dir, input: "x\n")
        #expect(cbc.status != 0)
    }

    /// Groups: brainpool works for TLS 1.2 (OpenSSL 3.0 has no TLS 1.3 brainpool groups); X25519 alone is refused.
    @Test func brainpoolForTLS12AndNoX25519() async throws {
        let dir = try TempDir()
        // The TLS 1.2 offered groups also bind both certificates' curves (else OpenSSL says "wrong curve").
        let brainpoolClient = try PKI.issue(by: PKI.ca, "participant-bp", usage: .client, kind: .brainpoolP256r1)
        try PKI.writeFiles(to: dir, client: brainpoolClient)
        let logs = LogCapture()
        let brainpoolServer = try PKI.issue(by: PKI.ca, "broker-bp", usage: .server, kind: .brainpoolP256r1)
        let server = try await TestServer(
            context: try PKI.serverContext(brainpoolServer) { $0.minimumVersion = .tls12 }, logger: logs.logger)
        defer { Task { await server.close() } }
        let client = try OpenSSLProcess(
            [
                "s_client", "-connect", "127.0.0.1:\(server.port)", "-tls1_2", "-groups", "brainpoolP256r1", "-cert", "client.pem", "-key",
                "client.key"
            ] + Self.sClientBase, in: dir)
        client.send("brainpool\n")
        #expect(
            await eventually { server.allRecorders.first?.receivedString == "brainpool\n" }, "\(server.allRecorders.first?.tlsErrors ?? [])"
        )
        await client.finish()
        #expect(client.stdout.contains("brainpoolP256r1"), "\(client.stdout)")
        let x25519 = try await OpenSSLProcess.run(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-groups", "X25519", "-cert", "client.pem", "-key", "client.key"]
                + Self.sClientBase, in: dir, input: "x\n")
        #expect(x25519.status != 0)
        #expect(await eventually { server.allRecorders.count == 2 && !(server.allRecorders.last?.tlsErrors.isEmpty ?? true) })
        #expect(server.allRecorders.last?.received.isEmpty == true)
    }

    /// No resumption: every reconnect with an offered session is a full handshake, so revocation is always re-checked.
    @Test(arguments: [TLSVersion.tls13, .tls12])
    func reconnectWithSessionDoesAFullHandshake(version: TLSVersion) async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext { $0.minimumVersion = version }, logger: logs.logger)
        defer { Task { await server.close() } }
        let flag = version == .tls13 ? "-tls1_3" : "-tls1_2"
        let result = try await OpenSSLProcess.run(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", flag, "-reconnect", "-cert", "client.pem", "-key", "client.key"]
                + Self.sClientBase, in: dir)
        let newCount = result.stdout.components(separatedBy: "New, TLSv1.").count - 1
        #expect(newCount >= 2, "\(result.stdout)")
        #expect(!result.stdout.contains("Reused,"))
        #expect(await eventually { server.allRecorders.count >= 2 })
    }

    @Test func ourClientAgainstSServer() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        let port = try await freePort()
        let server = try OpenSSLProcess(
            [
                "s_server", "-accept", "127.0.0.1:\(port)", "-cert", "server.pem", "-key", "server.key", "-CAfile", "ca.pem",
                "-Verify", "1", "-verify_return_error", "-alpn", "klammer/1", "-naccept", "1", "-rev"
            ], in: dir)
        defer { server.process.terminate() }
        let logs = LogCapture()
        let recorder = Recorder()
        var channel: (any Channel)?
        for _ in 0..<100 where channel == nil {
            channel = try? await connectClient(port: port, context: try PKI.clientContext(), logger: logs.logger, recorder: recorder)
            if channel == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        let client = try #require(channel)
        try await client.writeAndFlush(ByteBuffer(string: "hello s_server\n")).get()
        #expect(await eventually { recorder.receivedString.contains("revres_s olleh") })
        #expect(recorder.identity?.fingerprint == PKI.server.certificate.fingerprint)
        #expect(recorder.identity?.applicationProtocol == "klammer/1")
        try? await client.close()
        await server.finish(timeout: .seconds(5))
        #expect(
            server.stdout.contains("CONNECTION ESTABLISHED") || server.stdout.contains("Client certificate")
                || server.stderr.contains("verify depth"), "\(server.stdout)\n\(server.stderr)")
    }
}

/// A currently free TCP port on 127.0.0.1 (bind to 0, read, close).
func freePort() async throws -> Int {
    let channel = try await ServerBootstrap(group: testGroup).bind(host: "127.0.0.1", port: 0).get()
    let port = channel.localAddress!.port!
    try await channel.close()
    return port
}
