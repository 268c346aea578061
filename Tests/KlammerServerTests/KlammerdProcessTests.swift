import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerServer
import KlammerTLS
import KlammerTestSupport

/// Starts the real `klammerd --dev` binary on loopback and talks to it with `openssl s_client`, a peer we did not write.
@Suite(.serialized) struct KlammerdProcessTests {
    static func binary(_ name: String) -> String { BuiltExecutable.path(name) }

    /// A running `klammerd --dev` with its output captured; killed when released. The shared harness, so its
    /// start-up read and its shutdown are bounded (issue 15).
    typealias Daemon = KlammerdProcess

    /// Runs `openssl s_client` with a client certificate, sends one line, returns what the server sent back.
    /// The peer bounds itself: its stdin stays open for 1.5 s (time to greet and echo), and coreutils `timeout`
    /// kills it after 8 s whatever happens, so the test cannot hang.
    static func sClient(port: Int, ca: String, cert: String?, key: String?, line: String = "ping") throws -> String {
        var command =
            "(printf '%s\\n' \"$LINE\"; sleep 1.5) | timeout -k 2 8 openssl s_client -connect 127.0.0.1:\(port) -alpn klammer/1 -CAfile \"$CA\" -quiet"
        var environment = ProcessInfo.processInfo.environment
        environment["LINE"] = line
        environment["CA"] = ca
        if let cert, let key {
            command += " -cert \"$CERT\" -key \"$KEY\""
            environment["CERT"] = cert
            environment["KEY"] = key
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command + " 2>/dev/null"]
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "klammerd-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test func devModeRunsTheBrokerForRegisteredParticipantsOnly() async throws {
        let base = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let data = base + "/dev"
        let daemon = try Daemon(dataDirectory: data)
        let pki = try DevPKI.loadOrCreate(dataDirectory: data)
        let schwerin = try #require(pki.participants.first)
        let rostock = pki.participants[1]
        let trust = TrustStore(anchors: [pki.ca], crls: [pki.crl])
        func identity(_ p: DevPKI.Participant) throws -> TestIdentity {
            TestIdentity(id: p.id, certificate: p.certificate, key: try PrivateKey.load(fromFile: p.keyPath))
        }

        // The real protocol: HELLO/WELCOME names the participant of the certificate and the dev broker.
        let sender = try await TestFrameClient.connect(port: daemon.port, identity: try identity(schwerin), trust: trust)
        defer { sender.close() }
        let welcome = try #require(try await sender.hello())
        #expect(welcome.participant.rawValue == schwerin.id)
        #expect(welcome.brokerID.rawValue == DevEnvironment.brokerID)

        // Send to Rostock; the accepted receipt is signed with the dev broker certificate.
        let payload = payloadBytes(2000)
        let envelope = try makeEnvelope(from: try identity(schwerin), to: [try identity(rostock)], payload: payload)
        guard
            case .accepted(let accepted) = try await sender.upload(
                requestID: 1, envelope: envelope, payload: payload,
                signer: try identity(schwerin))
        else {
            Issue.record("no ACCEPTED from klammerd --dev: \(daemon.log)")
            return
        }
        try CMS.verifyDetached(
            signature: accepted.receipt.brokerSignature, content: accepted.receipt.receipt.canonicalBytes,
            signer: pki.brokerCertificate)
        let recipient = try await TestFrameClient.connect(port: daemon.port, identity: try identity(rostock), trust: trust)
        defer { recipient.close() }
        _ = try #require(try await recipient.hello())
        try await recipient.send(.fetch(.init(requestID: 2, maxMessages: 5)))
        let delivery = try #require(await recipient.receiveDelivery())
        #expect(sameBytes(delivery.payload, payload))

        // A peer we did not write: openssl sends a text line, which is not a frame; the broker answers with an
        // ERROR frame (its text is readable) and closes.
        let reply = try Self.sClient(
            port: daemon.port, ca: pki.caCertificatePath, cert: schwerin.certificatePath, key: schwerin.keyPath, line: "hello klammer")
        #expect(reply.contains("exceeds limit"))

        // No client certificate: refused, with the reason in the log.
        let anonymous = try Self.sClient(port: daemon.port, ca: pki.caCertificatePath, cert: nil, key: nil)
        #expect(!anonymous.contains("exceeds limit"))

        // A certificate from the right CA that no participant owns: the TLS handshake succeeds and the session answers
        // whatever comes first (here openssl's text line) with ERROR(0, UNKNOWN_PARTICIPANT) — never processing it.
        let caKey = try PrivateKey.load(fromFile: pki.caKeyPath)
        let ca = try CertificateAuthority(certificate: pki.ca, key: caKey)
        let strangerKey = try PrivateKey.generate(.p256)
        let stranger = try ca.issue(commonName: "ags:13004000", publicKey: strangerKey.publicKey, usage: .client)
        try stranger.pemString.write(toFile: base + "/stranger.pem", atomically: true, encoding: .utf8)
        try strangerKey.pkcs8PEM.write(toFile: base + "/stranger.key", atomically: true, encoding: .utf8)
        let strangerReply = try Self.sClient(
            port: daemon.port, ca: pki.caCertificatePath, cert: base + "/stranger.pem", key: base + "/stranger.key")
        #expect(!strangerReply.contains("exceeds limit"))
        #expect(strangerReply.contains("is not registered to any participant"))

        let log = daemon.log
        #expect(log.contains("no client certificate") || log.contains("did not return a certificate"))
        #expect(log.contains("not registered to any participant"))
    }

    @Test func suspendedParticipantIsRefusedAndSigtermExitsCleanly() throws {
        let base = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: base) }
        let data = base + "/dev"
        // Prepare the dev environment first and suspend one participant before the daemon reads the registry.
        let environment = try DevEnvironment(dataDirectory: data)
        let rostock = environment.pki.participants[1]
        try environment.registry.setStatus(.suspended, of: rostock.id)

        let daemon = try Daemon(dataDirectory: data)
        let reply = try Self.sClient(
            port: daemon.port, ca: environment.pki.caCertificatePath, cert: rostock.certificatePath, key: rostock.keyPath)
        #expect(!reply.contains("exceeds limit"))
        #expect(reply.contains("participant \(rostock.id) is suspended"))  // the ERROR frame's text
        #expect(daemon.log.contains("participant \(rostock.id) is suspended"))

        #expect(daemon.stop() == 0)  // SIGTERM: graceful shutdown (bounded)
    }
}
