import Foundation
import KlammerAdmin
import KlammerCrypto
import KlammerServer
import Testing

/// `klammerctl reload` and SIGHUP against the real `klammerd --dev`: a new CRL closes the live connection of the
/// certificate it revokes within a second, other connections stay, and the revoked certificate cannot connect again.
@Suite(.serialized) struct ReloadProcessTests {
    @Test func reloadWithANewCRLCutsTheRevokedConnectionOnly() async throws {
        let base = "/tmp/krl-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let data = base + "/dev"
        let daemon = try KlammerdProcessTests.Daemon(dataDirectory: data)
        let socket = data + "/admin.sock"
        try await OperationsProcessTests.waitForAdmin(socket: socket, in: base)
        let pki = try DevPKI.loadOrCreate(dataDirectory: data)
        let trust = TrustStore(anchors: [pki.ca], crls: [pki.crl])
        func identity(_ p: DevPKI.Participant) throws -> TestIdentity {
            TestIdentity(id: p.id, certificate: p.certificate, key: try PrivateKey.load(fromFile: p.keyPath))
        }
        let revoked = try identity(pki.participants[0])
        let kept = try identity(pki.participants[1])

        let doomed = try await TestFrameClient.connect(port: daemon.port, identity: revoked, trust: trust)
        defer { doomed.close() }
        _ = try #require(try await doomed.hello())
        let healthy = try await TestFrameClient.connect(port: daemon.port, identity: kept, trust: trust)
        defer { healthy.close() }
        _ = try #require(try await healthy.hello())

        // The operator revokes the first participant's certificate: a new CRL from the dev CA.
        let ca = try CertificateAuthority(certificate: pki.ca, key: try PrivateKey.load(fromFile: pki.caKeyPath))
        let crl = try ca.makeCRL(revoked: [(revoked.certificate.serialNumberHex, Date())])
        try crl.pemString.write(toFile: pki.crlPath, atomically: true, encoding: .utf8)

        let started = ContinuousClock.now
        let reload = try OperationsProcessTests.klammerctl(["reload", "--json"], socket: socket, in: base)
        #expect(reload.status == 0, "\(reload.stderr)")
        let view = try OperationsProcessTests.decode(AdminReloadView.self, reload)
        #expect(view.crls == 1 && view.caCertificates == 1 && view.connectionsClosed == 1)
        #expect(view.restartRequired.isEmpty)

        // The revoked connection gets an ERROR and is closed within a second of the reload.
        let frames = await doomed.framesUntilClosed(timeout: .seconds(1))
        #expect(frames != nil, "the revoked certificate's connection stayed open")
        #expect(frames?.contains { if case .error(let e) = $0 { e.code == .participantRevoked } else { false } } == true)
        #expect(ContinuousClock.now - started < .seconds(5))

        // The other connection stays usable.
        try await healthy.send(.ping(.init(data: 7)))
        #expect(await healthy.next() == .pong(.init(data: 7)))

        // New connections use the new trust store: the revoked certificate is refused in the handshake.
        if let again = try? await TestFrameClient.connect(port: daemon.port, identity: revoked, trust: trust) {
            defer { again.close() }
            // Refused: either no WELCOME arrives or the write fails on the closed connection.
            let welcome = try? await again.hello()
            #expect(welcome == nil)
        }
        let fresh = try await TestFrameClient.connect(port: daemon.port, identity: kept, trust: trust)
        defer { fresh.close() }
        #expect(try await fresh.hello() != nil)

        // SIGHUP reloads too, and is audited.
        kill(daemon.process.processIdentifier, SIGHUP)
        let deadline = ContinuousClock.now + .seconds(10)
        var audited = false
        while !audited, ContinuousClock.now < deadline {
            let tail = try OperationsProcessTests.klammerctl(["audit", "tail", "--count", "10", "--json"], socket: socket, in: base)
            audited = tail.stdout.contains("signal:SIGHUP")
            if !audited { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(audited, "no audit entry for the SIGHUP reload: \(daemon.log)")
        // Still running (SIGHUP did not terminate it).
        #expect(try OperationsProcessTests.klammerctl(["status"], socket: socket, in: base).status == 0)
        let tail = try OperationsProcessTests.klammerctl(["audit", "tail", "--count", "20", "--json"], socket: socket, in: base)
        #expect(tail.stdout.contains("\"reload\""))
    }
}
