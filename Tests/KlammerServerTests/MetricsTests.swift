import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerServer
import KlammerTestSupport
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// `/metrics` and `/healthz` of an in-process broker, driven through the real protocol.
@Suite(.serialized) struct MetricsTests {
    /// GET over loopback with curl, bounded by coreutils timeout. Returns (HTTP status, body).
    static func get(_ url: String) throws -> (status: Int, body: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "2", "10", "curl", "-s", "-w", "\n%{http_code}", url]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var text = String(decoding: data, as: UTF8.self)
        guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
            return (0, text)
        }
        text = String(text[..<newline])
        return (status, text)
    }

    /// The value of the sample line `name` (exact series, labels included) in Prometheus text, or 0 if absent.
    static func sample(_ text: String, _ series: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? 0
        }
        return 0
    }

    /// Starts a metrics server for `server`'s daemon on a free port; returns the base URL and the task to cancel.
    static func startMetrics(_ server: ServerFixture, minimumCertificateDays: Int = 14) async throws -> (
        String, ServiceGroup, Task<Void, any Error>
    ) {
        let registry = MetricsServer.bootstrapPrometheus()
        let bound = Mutex(0)
        let metrics = MetricsServer(
            port: 0, registry: registry, daemon: server.daemon, minimumCertificateDays: minimumCertificateDays,
            logger: ServerFixture.quietLogger, onListening: { address in bound.withLock { $0 = address.port ?? 0 } })
        let group = ServiceGroup(configuration: .init(services: [.init(service: metrics)], logger: ServerFixture.quietLogger))
        let task = Task { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(10)
        while bound.withLock({ $0 }) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        let port = bound.withLock { $0 }
        try #require(port != 0, "metrics server did not listen")
        return ("http://127.0.0.1:\(port)", group, task)
    }

    @Test func countersMoveAfterASendDeliveryAndAck() async throws {
        // Bootstrap before the broker exists, as klammerd does.
        _ = MetricsServer.bootstrapPrometheus()
        try await withServer { server in
            let (base, group, task) = try await Self.startMetrics(server)
            defer {
                Task {
                    await group.triggerGracefulShutdown(); _ = try? await task.value
                }
            }
            let before = try Self.get(base + "/metrics").body

            let a = try await server.session(TestPKI.a)
            let b = try await server.session(TestPKI.b)
            defer { a.close(); b.close() }
            let payload = payloadBytes(1000)
            let envelope = try makeEnvelope(from: TestPKI.a, to: [TestPKI.b], payload: payload)
            guard case .accepted(let accepted) = try await a.upload(requestID: 1, envelope: envelope, payload: payload) else {
                Issue.record("no ACCEPTED")
                return
            }
            // A rejected send: the envelope says the sender is b, but a's connection sends it.
            let forged = try makeEnvelope(from: TestPKI.b, to: [TestPKI.a], payload: payload)
            #expect(errorFrame(try await a.upload(requestID: 2, envelope: forged, payload: payload)) != nil)

            let queued = try Self.get(base + "/metrics").body
            #expect(Self.sample(queued, #"klammer_queue_messages{queue="\#(TestPKI.b.id)",state="ready"}"#) == 1)

            try await b.send(.fetch(.init(requestID: 7, maxMessages: 1)))
            _ = try #require(await b.receiveDelivery())
            _ = await b.nextSignificant()  // FETCH_DONE
            let messageID = accepted.receipt.receipt.messageID
            let statement = try AcknowledgementStatement(
                messageID: messageID, envelopeDigest: accepted.receipt.receipt.envelopeDigest,
                sender: ParticipantID(TestPKI.a.id), recipient: ParticipantID(TestPKI.b.id), timestampMillis: 1_795_599_060_000)
            let signature = try CMS.signDetached(statement.canonicalBytes, certificate: TestPKI.b.certificate, key: TestPKI.b.key)
            try await b.send(.ack(.init(requestID: 8, statement: statement, signature: signature)))
            guard case .receipt = await b.nextSignificant() else {
                Issue.record("no RECEIPT for ACK")
                return
            }

            let after = try Self.get(base + "/metrics")
            #expect(after.status == 200)
            let text = after.body
            func grew(_ series: String, by amount: Double = 1) -> Bool {
                Self.sample(text, series) - Self.sample(before, series) >= amount
            }
            #expect(grew("klammer_messages_accepted_total"))
            #expect(grew("klammer_message_bytes_accepted_total", by: 1000))
            #expect(grew("klammer_messages_delivered_total"))
            #expect(grew("klammer_messages_acked_total"))
            #expect(text.contains("klammer_messages_rejected_total{reason="))
            #expect(Self.sample(text, "klammer_connections_open") >= 2)
            #expect(Self.sample(text, "klammer_store_fsync_seconds_count") > 0)
            #expect(Self.sample(text, "klammer_store_group_commit_batch_records_count") > 0)
            #expect(Self.sample(text, #"klammer_queue_messages{queue="\#(TestPKI.b.id)",state="ready"}"#) == 0)
        }
    }

    @Test func refusedParticipantsAreCountedByReason() async throws {
        _ = MetricsServer.bootstrapPrometheus()
        try await withServer { server in
            let (base, group, task) = try await Self.startMetrics(server)
            defer {
                Task {
                    await group.triggerGracefulShutdown(); _ = try? await task.value
                }
            }
            let series = #"klammer_connections_refused_total{reason="UNKNOWN_PARTICIPANT"}"#
            let before = Self.sample(try Self.get(base + "/metrics").body, series)
            // Same CA, never registered: the handshake succeeds, the session refuses HELLO with UNKNOWN_PARTICIPANT.
            let client = try await server.connect(TestPKI.stranger)
            try await client.send(.hello(.init(maxFrameSize: 1 << 20, agent: "test")))
            #expect(errorFrame(await client.framesUntilClosed()?.last)?.code == .unknownParticipant)
            let deadline = ContinuousClock.now + .seconds(5)
            var now = before
            while now <= before, ContinuousClock.now < deadline {
                now = Self.sample(try Self.get(base + "/metrics").body, series)
                if now <= before { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(now >= before + 1)  // other suites in this process may refuse peers too

            // A certificate of another CA is still refused in the TLS handshake, and counted there.
            let tlsSeries = #"klammer_tls_handshake_failures_total{reason="certificate-verification-failed"}"#
            let tlsBefore = Self.sample(try Self.get(base + "/metrics").body, tlsSeries)
            let otherCA = try CertificateAuthority.create(commonName: "Other CA")
            let key = try PrivateKey.generate(.p256)
            let foreign = TestIdentity(
                id: "ags:13004000",
                certificate: try otherCA.issue(
                    commonName: "ags:13004000", subjectAlternativeNames: ["URI:urn:klammer:participant:ags:13004000"],
                    publicKey: key.publicKey, usage: .client), key: key)
            if let untrusted = try? await server.connect(foreign) {
                _ = await untrusted.framesUntilClosed()  // TLS 1.3: the refusal arrives at the client's first read
            }
            let tlsDeadline = ContinuousClock.now + .seconds(5)
            var tlsNow = tlsBefore
            while tlsNow <= tlsBefore, ContinuousClock.now < tlsDeadline {
                tlsNow = Self.sample(try Self.get(base + "/metrics").body, tlsSeries)
                if tlsNow <= tlsBefore { try await Task.sleep(for: .milliseconds(20)) }
            }
            #expect(tlsNow >= tlsBefore + 1)
        }
    }

    @Test func healthzIsOKAndReports503WhenTheCertificateExpiresSoon() async throws {
        try await withServer { server in
            let (base, group, task) = try await Self.startMetrics(server)
            defer {
                Task {
                    await group.triggerGracefulShutdown(); _ = try? await task.value
                }
            }
            let healthy = try Self.get(base + "/healthz")
            #expect(healthy.status == 200)
            let report = try JSONDecoder().decode(HealthReport.self, from: Data(healthy.body.utf8))
            #expect(report.status == "ok" && report.checks.map(\.name) == ["store_writable", "broker_certificate"])
            #expect(try Self.get(base + "/nope").status == 404)

            // The test broker certificate is valid for a year: demanding 10 years makes it unhealthy.
            let (strict, strictGroup, strictTask) = try await Self.startMetrics(server, minimumCertificateDays: 3650)
            defer {
                Task {
                    await strictGroup.triggerGracefulShutdown(); _ = try? await strictTask.value
                }
            }
            let unhealthy = try Self.get(strict + "/healthz")
            #expect(unhealthy.status == 503)
            #expect(unhealthy.body.contains("\"unhealthy\""))
        }
        // The store closed with the daemon: not writable.
        let closed = HealthReport.evaluate(store: nil, certificate: TestPKI.broker.certificate, minimumCertificateDays: 0)
        #expect(!closed.isHealthy && closed.checks[0].name == "store_writable" && !closed.checks[0].ok)
    }
}
