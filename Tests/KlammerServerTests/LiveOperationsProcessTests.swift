import Foundation
import KlammerAdmin
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerStore
import KlammerTestSupport
import NIOCore
import Synchronization
import Testing

/// `klammerctl status` and live suspend/revoke against the real `klammerd --dev`, with clients speaking the real
/// protocol (SPEC.md §9.9, §11.4).
@Suite(.serialized) struct LiveOperationsProcessTests {
    /// A dev daemon with its admin socket answering, and the dev participants as test identities.
    struct Setup {
        let base: String
        let daemon: KlammerdProcessTests.Daemon
        let socket: String
        let trust: TrustStore
        let participants: [TestIdentity]

        static func start(prefix: String) async throws -> Setup {
            let base = "/tmp/\(prefix)-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            let data = base + "/dev"
            let daemon = try KlammerdProcessTests.Daemon(dataDirectory: data)
            let socket = data + "/admin.sock"
            try await OperationsProcessTests.waitForAdmin(socket: socket, in: base)
            let pki = try DevPKI.loadOrCreate(dataDirectory: data)
            let participants = try pki.participants.map {
                TestIdentity(id: $0.id, certificate: $0.certificate, key: try PrivateKey.load(fromFile: $0.keyPath))
            }
            return Setup(
                base: base, daemon: daemon, socket: socket, trust: TrustStore(anchors: [pki.ca], crls: [pki.crl]),
                participants: participants)
        }

        func ctl(_ arguments: String...) throws -> OperationsProcessTests.Run {
            try OperationsProcessTests.klammerctl(arguments, socket: socket, in: base)
        }

        func status() throws -> AdminStatusView {
            let run = try ctl("status", "--json")
            try #require(run.status == 0, "\(run.stderr)")
            return try OperationsProcessTests.decode(AdminStatusView.self, run)
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    @Test func statusShowsConnectionsQueuesDiskAndCertificateExpiry() async throws {
        let setup = try await Setup.start(prefix: "kst")
        defer { setup.remove() }
        let sender = setup.participants[0], recipient = setup.participants[1]

        let client = try await TestFrameClient.connect(port: setup.daemon.port, identity: sender, trust: setup.trust)
        defer { client.close() }
        _ = try #require(try await client.hello())
        // Two messages for a recipient that is not connected: they stay queued.
        for request in 1...2 {
            let payload = payloadBytes(5000, seed: UInt8(request))
            let envelope = try makeEnvelope(from: sender, to: [recipient], payload: payload)
            let answer = try await client.upload(requestID: UInt32(request), envelope: envelope, payload: payload, signer: sender)
            guard case .accepted = answer else {
                Issue.record("no ACCEPTED: \(String(describing: answer)) \(setup.daemon.log)")
                return
            }
        }

        let status = try setup.status()
        #expect(status.mode == "dev" && status.brokerId == DevEnvironment.brokerID)
        #expect(status.uptimeSeconds >= 0 && status.uptimeSeconds < 600)
        let connections = try #require(status.connections)
        #expect(connections.total >= 1)
        #expect(connections.byParticipant[sender.id] == 1)
        #expect(connections.byParticipant[recipient.id] == nil)
        let queues = try #require(status.queues)
        #expect(queues.ready == 2 && queues.inFlight == 0 && queues.deadLettered == 0 && queues.queues == 1)
        #expect(queues.top.first?.recipient == recipient.id && queues.top.first?.ready == 2)
        let disk = try #require(status.disk)
        #expect(disk.storeBytes > 0 && disk.storeFiles > 0 && disk.storeBytesComplete)
        #expect(disk.filesystemAvailableBytes > 0 && disk.filesystemTotalBytes >= disk.filesystemAvailableBytes)
        #expect(disk.dataDirectory.hasSuffix("/dev"))
        let certificates = try #require(status.certificates)
        #expect(certificates.broker.daysLeft > 0 && certificates.broker.notAfter > Date())
        #expect(certificates.ca.count == 1 && certificates.ca.allSatisfy { $0.daysLeft > 0 })
        #expect(certificates.ca.first?.daysLeft ?? 0 >= certificates.broker.daysLeft)
        let earliest = try #require(certificates.earliestParticipant)
        #expect(earliest.daysLeft > 0)
        #expect(setup.participants.map(\.id).contains(earliest.participant ?? ""))
        print(
            "status: connections \(connections.total), queues ready \(queues.ready), store \(disk.storeBytes) B, broker certificate \(certificates.broker.daysLeft) days left"
        )

        // The table form names every section.
        let human = try setup.ctl("status")
        #expect(human.status == 0)
        for text in [
            "(dev), broker \(DevEnvironment.brokerID)", "1 (\(sender.id) 1)", "2 ready", "disk free",
            "QUEUE", recipient.id, "DAYS LEFT", "broker", "first participant"
        ] {
            #expect(human.stdout.contains(text), "missing '\(text)' in:\n\(human.stdout)")
        }

        // Once the client is gone, the connection count follows (bounded polling).
        client.close()
        let deadline = ContinuousClock.now + .seconds(5)
        var open = connections.total
        while open > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            open = try setup.status().connections?.total ?? -1
        }
        #expect(open == 0)
    }

    /// Streams a large upload slowly; the operator suspends, revokes or removes the sender with the real klammerctl in the
    /// middle. The connection must be cut within 1 s of the command's confirmation and the upload never accepted.
    @Test(arguments: ["revoke", "suspend", "remove"])
    func changeDuringAnActiveSendStreamCutsItWithinOneSecond(_ action: String) async throws {
        let setup = try await Setup.start(prefix: "krv")
        defer { setup.remove() }
        let sender = setup.participants[0], recipient = setup.participants[1]
        let client = try await TestFrameClient.connect(port: setup.daemon.port, identity: sender, trust: setup.trust)
        defer { client.close() }
        let welcome = try #require(try await client.hello())

        let payload = payloadBytes(6 << 20, seed: 3)
        let envelope = try makeEnvelope(from: sender, to: [recipient], payload: payload)
        try await client.send(.sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope)))
        guard case .ready(let ready) = await client.nextSignificant() else {
            Issue.record("no READY: \(setup.daemon.log)")
            return
        }
        #expect(ready.offset == 0)

        // The stream: 16 KiB every 10 ms (about 6 s for the whole payload), within the upload window; it stops at
        // the connection's close. Everything the broker sends is kept.
        let stream = UploadStream()
        let streamer = Task {
            var window = Int(welcome.initialWindowSize)
            var offset = 0
            let chunk = 16 << 10
            while offset < payload.count {
                while let event = await client.inbox.next(timeout: .zero) {
                    stream.observe(event)
                    if case .frame(.windowUpdate(let update)) = event { window += Int(update.increment) }
                }
                if stream.isClosed { return }
                let end = min(offset + chunk, payload.count)
                guard end - offset <= window else {
                    try? await Task.sleep(for: .milliseconds(2))
                    continue
                }
                do {
                    try await client.send(
                        .chunk(.init(requestID: 1, offset: UInt64(offset), data: ByteBuffer(bytes: payload[offset..<end]))))
                } catch {
                    return  // the broker closed the connection
                }
                window -= end - offset
                offset = end
                stream.sent(offset)
                try? await Task.sleep(for: .milliseconds(10))
            }
            // Only reached if the broker never cut the stream: try to complete the upload.
            let cms = try? CMS.signDetached(envelope.canonicalBytes, certificate: sender.certificate, key: sender.key)
            if let cms { try? await client.send(.sendEnd(.init(requestID: 1, signature: .single(cms: cms)))) }
            stream.completedUpload()
        }

        // Gate on the stream being well under way (bounded), then run the real klammerctl.
        let gate = ContinuousClock.now + .seconds(20)
        while stream.bytesSent < 512 << 10, ContinuousClock.now < gate, !stream.isClosed {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(stream.bytesSent >= 512 << 10 && !stream.isClosed, "the upload did not get going: \(setup.daemon.log)")
        let commandStarted = ContinuousClock.now
        let change = try setup.ctl("participant", action, sender.id)
        let confirmed = ContinuousClock.now
        #expect(change.status == 0, "\(change.stderr)")

        // Wait (bounded) for the close the streamer observes, then collect what is left in the inbox.
        let closeDeadline = confirmed + .seconds(5)
        while !stream.isClosed, ContinuousClock.now < closeDeadline {
            while let event = await client.inbox.next(timeout: .zero) { stream.observe(event) }
            try await Task.sleep(for: .milliseconds(1))
        }
        _ = await streamer.value
        while let event = await client.inbox.next(timeout: .zero) { stream.observe(event) }

        let closedAt = try #require(stream.closedAt, "the connection was still open 5 s after 'participant \(action)'")
        let afterConfirmation = closedAt - confirmed
        let afterCommandStart = closedAt - commandStarted
        print(
            "participant \(action) during a \(payload.count)-byte upload (\(stream.bytesSent) bytes sent): connection closed \(afterConfirmation) after the command's confirmation, \(afterCommandStart) after it started (klammerctl took \(confirmed - commandStarted))"
        )
        #expect(afterConfirmation < .seconds(1))
        #expect(!stream.uploadCompleted, "the whole payload got through before the cut")
        let expected: ErrorCode =
            switch action {
            case "revoke": .participantRevoked
            case "suspend": .participantSuspended
            default: .unknownParticipant
            }
        #expect(
            stream.frames.contains { if case .error(let e) = $0 { e.code == expected } else { false } },
            "no ERROR \(expected) before the close: \(stream.frames)")
        #expect(!stream.frames.contains { if case .accepted = $0 { true } else { false } })

        // The cut is in the audit log after the operator's own entry: which participant, why, and that an upload was
        // in progress (refusals are written asynchronously: bounded polling).
        var cutEntry: [String: Any]?
        let auditDeadline = ContinuousClock.now + .seconds(5)
        while cutEntry == nil, ContinuousClock.now < auditDeadline {
            let tail = try setup.ctl("audit", "tail", "-n", "50", "--json")
            let entries = (try? JSONSerialization.jsonObject(with: Data(tail.stdout.utf8))) as? [[String: Any]] ?? []
            cutEntry = entries.first { $0["action"] as? String == "connection.cut" }
            if cutEntry == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let audited = try #require(cutEntry, "no connection.cut entry in the audit log")
        let details = audited["details"] as? [String: String] ?? [:]
        #expect(audited["subject"] as? String == sender.id, "\(audited)")
        #expect(details["code"] == "\(expected.rawValue)" && details["uploads_in_progress"] == "1", "\(audited)")

        // Nothing of the upload reached the recipient's queue.
        let queue = try OperationsProcessTests.decode(QueueStatistics.self, try setup.ctl("queue", "stats", recipient.id, "--json"))
        #expect(queue.total == 0)
        #expect(try setup.status().queues?.ready == 0)

        // A later send is refused: the participant cannot get a session any more.
        var refused = true
        if let again = try? await TestFrameClient.connect(port: setup.daemon.port, identity: sender, trust: setup.trust) {
            defer { again.close() }
            if (try? await again.hello()) != nil {
                refused = false
                let small = payloadBytes(100)
                let answer = try await again.upload(
                    requestID: 1, envelope: try makeEnvelope(from: sender, to: [recipient], payload: small), payload: small, signer: sender)
                if case .accepted = answer { Issue.record("a send after '\(action)' was accepted") }
            }
        }
        #expect(refused, "the participant got a new session after '\(action)'")
        #expect(try setup.status().queues?.ready == 0)

        // The other participants are unaffected.
        let other = try await TestFrameClient.connect(port: setup.daemon.port, identity: setup.participants[2], trust: setup.trust)
        defer { other.close() }
        #expect(try await other.hello() != nil)
    }
}

/// What the streaming task saw: bytes sent, frames received, and when the connection closed.
final class UploadStream: Sendable {
    private struct State {
        var sent = 0
        var frames: [Frame] = []
        var closedAt: ContinuousClock.Instant?
        var completed = false
    }

    private let state = Mutex(State())

    var bytesSent: Int { state.withLock { $0.sent } }
    var frames: [Frame] { state.withLock { $0.frames } }
    var closedAt: ContinuousClock.Instant? { state.withLock { $0.closedAt } }
    var isClosed: Bool { closedAt != nil }
    var uploadCompleted: Bool { state.withLock { $0.completed } }

    func sent(_ offset: Int) { state.withLock { $0.sent = offset } }
    func completedUpload() { state.withLock { $0.completed = true } }

    func observe(_ event: ClientEvent) {
        let now = ContinuousClock.now
        state.withLock { s in
            switch event {
            case .frame(let frame): s.frames.append(frame)
            case .closed: if s.closedAt == nil { s.closedAt = now }
            }
        }
    }
}
