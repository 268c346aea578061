import Foundation
import KlammerCrypto
@testable import KlammerTLS
import NIOCore
import NIOPosix
import Testing

/// Every refusal: a specific TLSError on the server, a log line naming the reason, no application byte delivered.
@Suite struct RefusalTests {
    /// Connects our client with `identity` and expects the server to refuse with `code`.
    private func expectServerRefuses(
        _ identity: Identity, code: TLSError.Code, messageContains text: String,
        trust: TrustStore = PKI.trust, clientTrust: TrustStore = PKI.trust
    ) async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(trust: trust), logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(
            port: server.port, context: try PKI.clientContext(identity, trust: clientTrust), logger: logs.logger, recorder: recorder)
        client.writeAndFlush(ByteBuffer(string: "should never arrive"), promise: nil)
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        let serverSide = try #require(server.allRecorders.first)
        let error = try #require(serverSide.tlsErrors.first)
        #expect(error.code == code, "\(error)")
        #expect(error.message.contains(text), "\(error)")
        #expect(serverSide.received.isEmpty)
        #expect(serverSide.identity == nil)
        #expect(logs.contains("TLS connection refused: \(code)"), "\(logs.all)")
        // TLS 1.3: the client learns it at its first read, as an alert, and the connection closes.
        #expect(await eventually { recorder.isInactive })
        #expect(recorder.tlsErrors.contains { $0.code == .alertReceived || $0.code == .closedDuringHandshake || $0.code == .unauthorized })
        try? await client.close()
    }

    @Test func certificateFromAnotherCA() async throws {
        let foreign = try PKI.issue(by: PKI.otherCA, "intruder", usage: .client)
        try await expectServerRefuses(
            foreign, code: .certificateVerificationFailed, messageContains: "unable to get local issuer certificate")
    }

    @Test func expiredCertificate() async throws {
        let expired = try PKI.issue(by: PKI.ca, "expired", usage: .client, notBefore: .now - 2 * 86400, notAfter: .now - 86400)
        try await expectServerRefuses(expired, code: .certificateVerificationFailed, messageContains: "certificate has expired")
    }

    @Test func notYetValidCertificate() async throws {
        let future = try PKI.issue(by: PKI.ca, "future", usage: .client, notBefore: .now + 86400, notAfter: .now + 2 * 86400)
        try await expectServerRefuses(future, code: .certificateVerificationFailed, messageContains: "certificate is not yet valid")
    }

    @Test func revokedCertificate() async throws {
        let revoked = try PKI.issue(by: PKI.ca, "revoked", usage: .client)
        let crl = try PKI.ca.makeCRL(revoked: [(revoked.certificate.serialNumberHex, .now - 60)])
        let trust = TrustStore(anchors: [PKI.ca.certificate], crls: [crl])
        try await expectServerRefuses(revoked, code: .certificateVerificationFailed, messageContains: "certificate revoked", trust: trust)
        // A non-revoked client still gets in through the same CRL-checking server.
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(trust: trust), logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(port: server.port, context: try PKI.clientContext(), logger: logs.logger, recorder: recorder)
        try await client.writeAndFlush(ByteBuffer(string: "ok")).get()
        #expect(await eventually { server.allRecorders.first?.receivedString == "ok" })
        try await client.close()
    }

    @Test func serverCertificateAsClientCertificateIsRefused() async throws {
        // extendedKeyUsage serverAuth only: not usable as a TLS client certificate.
        try await expectServerRefuses(PKI.server, code: .certificateVerificationFailed, messageContains: "unsuitable certificate purpose")
    }

    @Test func rsa2048ClientCertificateIsRefused() async throws {
        let dir = try TempDir()
        try PKI.writeFiles(to: dir)
        try dir.write("ca.key", PKI.ca.key.pkcs8PEM)
        try dir.write("ext.cnf", "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
        _ = try await OpenSSLProcess.run(
            ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "weak.key", "-subj", "/CN=weak", "-out", "weak.csr"], in: dir)
        let signed = try await OpenSSLProcess.run(
            [
                "x509", "-req", "-in", "weak.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-days", "1", "-extfile", "ext.cnf", "-out",
                "weak.pem"
            ], in: dir)
        #expect(signed.status == 0, "\(signed.stderr)")
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let result = try await OpenSSLProcess.run(
            ["s_client", "-connect", "127.0.0.1:\(server.port)", "-cert", "weak.pem", "-key", "weak.key"] + InteropTests.sClientBase,
            in: dir, input: "x\n")
        _ = result
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        let error = try #require(server.allRecorders.first?.tlsErrors.first)
        #expect(error.code == .keyTooSmall)
        #expect(error.message.contains("key too weak"), "\(error)")
        #expect(logs.contains("TLS connection refused: key-too-small"))

        // Our own RSA-2048 key is refused when the context is built, with a clear error.
        let weakKey = try PrivateKey(pem: String(contentsOfFile: dir.path("weak.key"), encoding: .utf8))
        let weakCert = try Certificate(pem: String(contentsOfFile: dir.path("weak.pem"), encoding: .utf8))
        let config = TLSConfiguration.client(certificateChain: [weakCert], privateKey: weakKey, trustStore: PKI.trust)
        #expect { try TLSContext(configuration: config) } throws: { ($0 as? TLSError)?.code == .keyTooSmall }
    }

    @Test func authorizerRejectionClosesBeforeAnyApplicationByte() async throws {
        let logs = LogCapture()
        let authorizer = PeerAuthorizer { peer in
            peer.fingerprint == PKI.client.certificate.fingerprint ? .reject(reason: "participant not in registry") : .accept
        }
        let server = try await TestServer(context: try PKI.serverContext(), authorizer: authorizer, logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(port: server.port, context: try PKI.clientContext(), logger: logs.logger, recorder: recorder)
        client.writeAndFlush(ByteBuffer(string: "secret"), promise: nil)
        #expect(await eventually { recorder.isInactive })
        let serverSide = try #require(server.allRecorders.first)
        #expect(serverSide.sawHandshakeCompleted)
        #expect(serverSide.received.isEmpty)
        #expect(serverSide.tlsErrors.first?.code == .unauthorized)
        #expect(logs.contains("TLS connection refused: unauthorized: peer rejected by the authorizer: participant not in registry"))
    }

    @Test func slowAuthorizerHoldsInboundBytesUntilAccepted() async throws {
        let logs = LogCapture()
        // The authorizer answers only when the test releases it, so the check below cannot race a timer.
        let (release, releaseSignal) = AsyncStream<Void>.makeStream()
        let authorizer = PeerAuthorizer { _ in
            for await _ in release { break }
            return .accept
        }
        let server = try await TestServer(
            context: try PKI.serverContext { $0.handshakeTimeout = .seconds(120) }, authorizer: authorizer, logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(
            port: server.port, context: try PKI.clientContext { $0.handshakeTimeout = .seconds(120) }, logger: logs.logger,
            recorder: recorder)
        try await client.writeAndFlush(ByteBuffer(string: "early bytes")).get()
        #expect(await eventually { server.allRecorders.first?.with({ $0.channel }) != nil })
        let serverSide = try #require(server.allRecorders.first)
        let serverChannel = try #require(serverSide.with { $0.channel })
        // The event, not a pause: the server's TLS handler has read and decrypted the early bytes and holds them.
        func held() async -> Int {
            (try? await serverChannel.eventLoop.submit {
                try serverChannel.pipeline.syncOperations.handler(type: OpenSSLHandler.self).heldInboundBytes
            }.get()) ?? -1
        }
        let early = "early bytes".utf8.count
        let deadline = ContinuousClock.now + .seconds(30)
        while await held() < early, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(await held() == early, "the server's TLS handler does not hold the \(early) early bytes")
        #expect(serverSide.received.isEmpty, "nothing may pass before the authorizer answers")
        releaseSignal.yield()
        releaseSignal.finish()
        #expect(await eventually(timeout: .seconds(30)) { serverSide.receivedString == "early bytes" })
        #expect(serverSide.identity?.fingerprint == PKI.client.certificate.fingerprint)
        try await client.close()
    }

    @Test func garbageInsteadOfClientHello() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let raw = try await ClientBootstrap(group: testGroup).connect(host: "127.0.0.1", port: server.port).get()
        try await raw.writeAndFlush(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: broker\r\n\r\n")).get()
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        #expect(server.allRecorders.first?.tlsErrors.first?.code == .handshakeFailed)
        #expect(logs.contains("did not speak TLS"))
        try? await raw.closeFuture.get()
    }

    @Test func clientStallingMidHandshakeTimesOut() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext { $0.handshakeTimeout = .milliseconds(300) }, logger: logs.logger)
        defer { Task { await server.close() } }
        let raw = try await ClientBootstrap(group: testGroup).connect(host: "127.0.0.1", port: server.port).get()
        // The first 5 bytes of a TLS record header, then silence.
        // May fail if the machine is so slow (e.g. under ASan) that the 300 ms already passed; the server-side
        // assertions below hold either way.
        try? await raw.writeAndFlush(ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x01, 0x00])).get()
        let start = ContinuousClock.now
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        let elapsed = ContinuousClock.now - start
        #expect(server.allRecorders.first?.tlsErrors.first?.code == .handshakeTimeout)
        #expect(elapsed < .seconds(3))
        #expect(logs.contains("TLS connection refused: handshake-timeout"))
        try? await raw.closeFuture.get()
    }

    @Test func peerFloodingBeforeHandshakeIsCutOff() async throws {
        let logs = LogCapture()
        let limit = 32 * 1024
        let server = try await TestServer(context: try PKI.serverContext { $0.maxHandshakeInboundBytes = limit }, logger: logs.logger)
        defer { Task { await server.close() } }
        let raw = try await ClientBootstrap(group: testGroup).connect(host: "127.0.0.1", port: server.port).get()
        // A ClientHello announcing 130816 bytes (below OpenSSL's own limit), fragmented in 16 KiB records, 10 MiB in all.
        var sent = 0
        var first = true
        while sent < 10 * 1024 * 1024 && raw.isActive {
            var record = ByteBuffer(bytes: [0x16, 0x03, 0x01, 0x40, 0x00])
            var payload = [UInt8](repeating: 0, count: 16384)
            if first { payload[0] = 0x01; payload[1] = 0x01; payload[2] = 0xFF; payload[3] = 0x00; first = false }
            record.writeBytes(payload)
            do { try await raw.writeAndFlush(record).get() } catch { break }
            sent += record.readableBytes
        }
        #expect(await eventually { !(server.allRecorders.first?.tlsErrors.isEmpty ?? true) })
        let error = try #require(server.allRecorders.first?.tlsErrors.first)
        #expect(error.code == .inboundBufferLimitExceeded, "\(error)")
        #expect(logs.contains("TLS connection refused: inbound-buffer-limit-exceeded"))
        #expect(sent < 10 * 1024 * 1024, "the server must cut the flood off")
        try? await raw.close()
    }

    @Test func localWritesBeforeHandshakeAreBounded() async throws {
        // A TCP server that accepts and never answers: the handshake never ends.
        let silent = try await ServerBootstrap(group: testGroup).bind(host: "127.0.0.1", port: 0).get()
        defer { silent.close(promise: nil) }
        let logs = LogCapture()
        let recorder = Recorder()
        let limit = 1024 * 1024
        // The handshake timeout must not end the connection while the test inspects it, even on a loaded machine.
        let context = try PKI.clientContext {
            $0.maxBufferedOutboundBytes = limit; $0.handshakeTimeout = .seconds(120)
        }
        let client = try await connectClient(port: silent.localAddress!.port!, context: context, logger: logs.logger, recorder: recorder)
        let chunk = ByteBuffer(repeating: 0x41, count: 64 * 1024)
        var futures: [EventLoopFuture<Void>] = []
        for _ in 0..<160 { futures.append(client.writeAndFlush(chunk)) }  // 10 MiB
        var refused = 0
        for future in futures.suffix(100) {
            do { try await future.get() } catch let error as TLSError where error.code == .outboundBufferLimitExceeded { refused += 1 }
        }
        #expect(refused == 100)
        let held = try await client.eventLoop.submit {
            try client.pipeline.syncOperations.handler(type: OpenSSLHandler.self).bufferedOutboundByteCount
        }.get()
        #expect(held <= limit)
        #expect(logs.contains("TLS write refused: outbound-buffer-limit-exceeded"))
        try await client.close()
        // Writes held when the connection closes fail rather than hang.
        for future in futures.prefix(16) {
            await #expect(throws: TLSError.self) { try await future.get() }
        }
    }

    @Test func noCommonALPNFailsTheHandshake() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(
            port: server.port, context: try PKI.clientContext { $0.applicationProtocols = ["http/1.1"] }, logger: logs.logger,
            recorder: recorder)
        #expect(await eventually { recorder.isInactive })
        #expect(recorder.tlsErrors.first?.code == .noApplicationProtocol, "\(recorder.tlsErrors)")
        #expect(server.allRecorders.first?.tlsErrors.first?.code == .noApplicationProtocol)
        #expect(logs.contains("no-application-protocol"))
        _ = client
    }

    /// A peer that sends no ALPN extension at all is refused in the handshake with a `no_application_protocol`
    /// alert, which the client can classify (not retryable) — not dropped silently after the handshake, which a
    /// client following SPEC.md §4.9 would retry for ever.
    @Test func peerWithoutALPNGetsANoApplicationProtocolAlert() async throws {
        let logs = LogCapture()
        let server = try await TestServer(context: try PKI.serverContext(), logger: logs.logger)
        defer { Task { await server.close() } }
        let recorder = Recorder()
        let client = try await connectClient(
            port: server.port,
            context: try PKI.clientContext {
                $0.applicationProtocols = []
                $0.requireApplicationProtocol = false
            }, logger: logs.logger, recorder: recorder)
        #expect(await eventually { recorder.isInactive })
        #expect(recorder.tlsErrors.first?.code == .noApplicationProtocol, "\(recorder.tlsErrors)")
        #expect(server.allRecorders.first?.tlsErrors.first?.code == .noApplicationProtocol, "\(server.allRecorders.first?.tlsErrors ?? [])")
        _ = client
    }
}
