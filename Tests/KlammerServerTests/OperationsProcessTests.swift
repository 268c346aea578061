import Foundation
import KlammerAdmin
import KlammerBroker
import KlammerCrypto
import KlammerServer
import KlammerStore
import KlammerTestSupport
import Testing

/// Queue, message and store operations: the real `klammerd --dev` driven by the real `klammerctl`, with a message
/// sent through the real protocol.
@Suite(.serialized) struct OperationsProcessTests {
    typealias Run = ProcessResult

    /// Runs klammerctl to completion, bounded by coreutils timeout. `directory` is unused: the runner keeps stderr in
    /// its own scratch file.
    static func klammerctl(_ arguments: [String], socket: String, in directory: String) throws -> Run {
        try ProcessRunner.run(KlammerdProcessTests.binary("klammerctl"), arguments + ["--socket", socket], timeoutSeconds: 30)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ run: Run) throws -> T {
        try AdminJSON.decoder().decode(type, from: Data(run.stdout.utf8))
    }

    /// Waits (bounded) until the admin socket answers.
    static func waitForAdmin(socket: String, in directory: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if FileManager.default.fileExists(atPath: socket), try klammerctl(["status"], socket: socket, in: directory).status == 0 {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the admin socket \(socket) did not answer")
    }

    @Test func queueOperationsOnARunningDaemon() async throws {
        let base = "/tmp/kop-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let data = base + "/dev"
        let daemon = try KlammerdProcessTests.Daemon(dataDirectory: data)
        let socket = data + "/admin.sock"
        try await Self.waitForAdmin(socket: socket, in: base)
        let pki = try DevPKI.loadOrCreate(dataDirectory: data)
        let trust = TrustStore(anchors: [pki.ca], crls: [pki.crl])
        func identity(_ p: DevPKI.Participant) throws -> TestIdentity {
            TestIdentity(id: p.id, certificate: p.certificate, key: try PrivateKey.load(fromFile: p.keyPath))
        }
        let sender = try identity(pki.participants[0])
        let recipient = try identity(pki.participants[1])

        let client = try await TestFrameClient.connect(port: daemon.port, identity: sender, trust: trust)
        defer { client.close() }
        _ = try #require(try await client.hello())
        var messageIDs: [String] = []
        for request in 1...2 {
            let payload = payloadBytes(3000, seed: UInt8(request))
            let envelope = try makeEnvelope(from: sender, to: [recipient], payload: payload)
            guard
                case .accepted(let accepted) = try await client.upload(
                    requestID: UInt32(request), envelope: envelope, payload: payload, signer: sender)
            else {
                Issue.record("no ACCEPTED: \(daemon.log)")
                return
            }
            messageIDs.append(accepted.receipt.receipt.messageID.hex)
        }

        // The daemon's own metrics endpoint counted the sends and shows the queue; it is healthy.
        let metrics = try MetricsTests.get("http://127.0.0.1:\(daemon.metricsPort)/metrics")
        #expect(metrics.status == 200)
        #expect(MetricsTests.sample(metrics.body, "klammer_messages_accepted_total") == 2)
        #expect(MetricsTests.sample(metrics.body, #"klammer_queue_messages{queue="\#(recipient.id)",state="ready"}"#) == 2)
        let health = try MetricsTests.get("http://127.0.0.1:\(daemon.metricsPort)/healthz")
        #expect(health.status == 200 && health.body.contains("\"ok\""))

        // queue list / stats
        let list = try Self.klammerctl(["queue", "list", "--json"], socket: socket, in: base)
        #expect(list.status == 0, "\(list.stderr)")
        let queues = try Self.decode([QueueStatistics].self, list)
        #expect(queues.first { $0.recipient == recipient.id }?.ready == 2)
        let stats = try Self.decode(
            QueueStatistics.self, try Self.klammerctl(["queue", "stats", recipient.id, "--json"], socket: socket, in: base))
        #expect(stats.ready == 2 && stats.inFlight == 0 && stats.deadLettered == 0)
        #expect(try Self.klammerctl(["queue", "stats", "ags:99999999"], socket: socket, in: base).status != 0)

        // peek: envelopes in delivery order, never payloads
        let peek = try Self.klammerctl(["queue", "peek", recipient.id, "--json"], socket: socket, in: base)
        let envelopes = try Self.decode([QueuedEnvelope].self, peek)
        #expect(envelopes.map(\.messageId) == messageIDs)
        #expect(envelopes.allSatisfy { $0.sender == sender.id && $0.payloadLength == 3000 && $0.state == "queued" })
        #expect(!peek.stdout.contains("payload\""))
        let human = try Self.klammerctl(["queue", "peek", recipient.id], socket: socket, in: base)
        #expect(human.stdout.contains(messageIDs[0]) && human.stdout.contains("SUBJECT"))

        // message trace: the routing slip with timestamps
        let trace = try Self.decode(
            MessageTrace.self, try Self.klammerctl(["message", "trace", messageIDs[0], "--json"], socket: socket, in: base))
        #expect(trace.sender == sender.id && trace.recipients == [recipient.id])
        #expect(trace.receipts.map(\.kind) == ["accepted"])
        #expect(try Self.klammerctl(["message", "trace", String(repeating: "0", count: 32)], socket: socket, in: base).status != 0)

        // dlq list: nothing dead yet
        let dead = try Self.decode(
            [AdminDeadLetterQueueView<QueuedEnvelope>].self, try Self.klammerctl(["dlq", "list", "--json"], socket: socket, in: base))
        #expect(dead.isEmpty)
        let replayNothing = try Self.decode(
            QueueOperationResult.self, try Self.klammerctl(["dlq", "replay", recipient.id, "--json"], socket: socket, in: base))
        #expect(replayNothing.messageIds.isEmpty)
        let replayQueued = try Self.klammerctl(["dlq", "replay", recipient.id, "--message", messageIDs[0]], socket: socket, in: base)
        #expect(replayQueued.status == 1 && replayQueued.stderr.contains("unknown-message"))

        // store scrub
        let scrub = try Self.klammerctl(["store", "scrub", "--json"], socket: socket, in: base)
        #expect(scrub.status == 0)
        let scrubView = try Self.decode(AdminScrubView.self, scrub)
        #expect(scrubView.clean && scrubView.records >= 2)

        // purge needs --yes without a terminal; then one message, then the rest
        let refused = try Self.klammerctl(["queue", "purge", recipient.id], socket: socket, in: base)
        #expect(refused.status != 0 && refused.stderr.contains("--yes"))
        let one = try Self.decode(
            QueueOperationResult.self,
            try Self.klammerctl(
                ["queue", "purge", recipient.id, "--yes", "--message", messageIDs[0], "--json"], socket: socket, in: base))
        #expect(one.messageIds == [messageIDs[0]])
        let rest = try Self.decode(
            QueueOperationResult.self, try Self.klammerctl(["queue", "purge", recipient.id, "--yes", "--json"], socket: socket, in: base))
        #expect(rest.messageIds == [messageIDs[1]])
        let empty = try Self.decode(
            QueueStatistics.self, try Self.klammerctl(["queue", "stats", recipient.id, "--json"], socket: socket, in: base))
        #expect(empty.total == 0)

        // Every call is in the audit log.
        let tail = try Self.klammerctl(["audit", "tail", "--count", "30", "--json"], socket: socket, in: base)
        for action in ["queue.list", "queue.stats", "queue.peek", "message.trace", "dlq.list", "dlq.replay", "store.scrub", "queue.purge"] {
            #expect(tail.stdout.contains("\"\(action)\""), "no audit entry for \(action)")
        }
    }
}
