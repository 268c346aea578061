import Foundation
import Synchronization
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import KlammerTestSupport
import Testing

/// Mecklenburg-Vorpommern's authorities exchange documents through a real klammerd, under faults.
/// `KLAMMER_INTEGRATION_SIZE=large` selects the large size (README "Integration suite").
@Suite(.serialized) struct IntegrationTests {
    static let schwerin = "ags:13004000", rostock = "ags:13003000", ludwigslust = "ags:13076000"
    static let neubrandenburg = "ags:13071101", seenplatte = "ags:13071000"

    /// All workflows at once while the broker is SIGKILLed and restarted `crashCycles` times.
    @Test func workflowsSurviveBrokerKills() async throws {
        try await Scenario.with { scenario in
            await scenario.installHandlers()
            scenario.startReceivers()
            let expected = scenario.expectedCounts()
            scenario.reportProgress()
            let crashes = Self.crashInjector(scenario)
            async let melde: Void = scenario.registration()
            async let bau: Void = scenario.building()
            async let erlass: Void = scenario.decree()
            async let gewerbe: Void = scenario.tradeNotices()
            _ = try await (melde, bau, erlass, gewerbe)
            await crashes.value
            try await scenario.waitUntilSettled(expected: expected)
            #expect(await scenario.broker.kills == scenario.size.crashCycles)
            try await Checker(scenario: scenario).check(title: "workflows under broker kills", slipSample: 400)
            // Everything is acknowledged: the broker's memory must not have grown with the messages it handled (the
            // large run once found 1.4 GiB after 101k messages: the routing-slip index held every signed receipt).
            // Bound: a base plus 2 KiB per message (the index needs well under 1 KiB).
            let messages = expected.values.reduce(0, +)
            let peakKiB = await scenario.broker.maxRSSKiB, nowKiB = await scenario.broker.sampleRSS()
            print("broker RSS after \(messages) messages: peak \(peakKiB >> 10) MiB, now \(nowKiB >> 10) MiB")
            #expect(peakKiB < 128 * 1024 + 2 * messages, "broker RSS peaked at \(peakKiB >> 10) MiB for \(messages) messages")
        }
    }

    /// SIGKILLs and restarts the broker `crashCycles` times while the workflows run (the large size spaces them
    /// out over a longer run).
    static func crashInjector(_ scenario: Scenario, proxies: [CutProxy] = []) -> Task<Void, Never> {
        scenario.spawn {
            do {
                for _ in 0..<scenario.size.crashCycles {
                    try await Task.sleep(for: scenario.size.crashInterval)
                    try await scenario.crashAndRestart(proxies: proxies)
                }
            } catch is CancellationError {
            } catch {
                Issue.record("crash injector: \(error)")
            }
        }
    }

    /// A recipient that is offline for the first half receives everything afterwards.
    @Test func recipientOfflineForFirstHalf() async throws {
        try await Scenario.with(only: [Self.schwerin, Self.rostock, Self.ludwigslust]) { scenario in
            scenario.startReceivers(except: [Self.rostock])
            for n in 0..<20 {
                if n == 10 { await scenario.ledger.fault("recipient offline: first half") }
                try await scenario.send(
                    from: Self.schwerin, to: [Self.rostock, Self.ludwigslust], workflow: "amtshilfe",
                    clientID: "amtshilfe-\(n)", subject: "Amtshilfe \(n)", payload: Scenario.document("ah-\(n)", bytes: 5000 + n))
                if n == 10 {
                    #expect(await scenario.ledger.snapshot().firstDelivery[Self.rostock] == nil)
                }
            }
            scenario.spawn { await scenario.agency(Self.rostock).receiveLoop() }
            try await scenario.waitUntilSettled(expected: ["amtshilfe": 20])
            try await Checker(scenario: scenario).check(title: "recipient offline")
        }
    }

    /// The connection is cut (both sides, like a failed network) in the middle of an upload; the retry with the
    /// same prepared message succeeds and the recipient gets the document byte for byte, once.
    @Test func connectionCutMidTransfer() async throws {
        let proxy = try CutProxy(targetPort: 1)
        defer { proxy.stop() }
        try await Scenario.with(only: [Self.neubrandenburg, Self.seenplatte], proxied: [Self.neubrandenburg: proxy]) { scenario in
            proxy.setTarget(await scenario.broker.port)
            scenario.startReceivers()
            let cut = CutOnce(proxy: proxy, atBytes: 1_000_000)
            try await scenario.send(
                from: Self.neubrandenburg, to: [Self.seenplatte], workflow: "bau", clientID: "bau-cut",
                subject: "Bauantrag mit Plaenen", payload: Scenario.document("bau-cut", bytes: 3_000_000), encrypted: true,
                progress: { sent, _ in cut.observe(sent) })
            #expect(proxy.cuts == 1)
            #expect(await scenario.agency(Self.neubrandenburg).reconnects >= 1)
            await scenario.ledger.fault("connection cut mid-transfer")
            try await scenario.waitUntilSettled(expected: ["bau": 1])
            try await Checker(scenario: scenario).check(title: "connection cut")
        }
    }

    /// A building application of `largeDocumentBytes` (1 GiB in the large size) streamed from a file on disk, kept
    /// by the broker across a SIGKILL, received into a directory and hashed from disk: the test process never holds
    /// it in memory. The district's Nachforderung and the answer follow (in reply to).
    /// The test process's growth is measured in a child run of its own (IsolatedTest), against a baseline it takes
    /// itself: the shared test process's RSS says what the tests before it left behind.
    @Test func largeBuildingApplicationStreamsFromAndToDisk() async throws {
        if let child = try IsolatedTest.runAlone(
            "IntegrationTests/largeBuildingApplicationStreamsFromAndToDisk",
            timeoutSeconds: 2 * Int(Size.current.deadline.components.seconds) + 120)
        {
            #expect(child.passed, "\(child.failure)")
            return
        }
        try await Scenario.with(only: [Self.neubrandenburg, Self.seenplatte]) { scenario in
            let bytes = scenario.size.largeDocumentBytes
            var started = Date()
            // Written to disk, encrypted end to end for the district's directory certificates (streaming, file to file).
            let plain = scenario.directory.file("bauantrag-gewerbepark.pdf"), path = plain + ".cms"
            let (plainSHA256, samples) = try Scenario.writeDocument("bau-gewerbepark", bytes: bytes, to: plain)
            started = Date()
            try EncryptedPayload.encrypt(
                file: plain, to: path,
                recipients: try await scenario.encryptionCertificates(for: [Self.seenplatte], asking: Self.neubrandenburg))
            let encryption = Date().timeIntervalSince(started)
            try FileManager.default.removeItem(atPath: plain)
            let sha256 = try Agency.sha256(ofFile: path)
            await scenario.installHandlers()
            let baseline = Self.residentKiB(), peak = Mutex(0)
            let sampler = scenario.spawn {
                while !Task.isCancelled {
                    let now = Self.residentKiB()
                    peak.withLock { $0 = max($0, now) }
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            started = Date()
            try await scenario.send(
                from: Self.neubrandenburg, to: [Self.seenplatte], workflow: "bau", clientID: "bau-gewerbepark",
                subject: "Bauantrag Gewerbepark Ost (Planunterlagen)", contentType: EncryptedPayload.contentType,
                source: .file(path), sha256: sha256, plaintextSamples: samples, plaintextSHA256: plainSHA256)
            let upload = Date().timeIntervalSince(started)
            try FileManager.default.removeItem(atPath: path)  // confirmed: the broker has it; free the disk
            // The accepted document survives a SIGKILL; before anyone fetched it, it is certainly in the data directory.
            try await scenario.crashAndRestart()
            let scan = try await Checker(scenario: scenario).scanForPlaintext(encrypted: [samples])
            print("plaintext scan with the large document stored: \(scan)")
            let inbox = scenario.directory.file("eingang")
            try FileManager.default.createDirectory(atPath: inbox, withIntermediateDirectories: true)
            started = Date()
            scenario.spawn {
                await scenario.agency(Self.seenplatte).receiveLoop(batch: 1, options: ReceiveOptions(payloadStorage: .directory(inbox)))
            }
            scenario.spawn { await scenario.agency(Self.neubrandenburg).receiveLoop() }
            try await scenario.waitUntilSettled(expected: ["bau": 3])
            let download = Date().timeIntervalSince(started)
            sampler.cancel()
            await sampler.value
            let growth = peak.withLock { $0 } - baseline
            print(
                "large document: \(bytes >> 20) MiB, encryption \(String(format: "%.1f", encryption)) s, upload \(String(format: "%.1f", upload)) s, download and answers \(String(format: "%.1f", download)) s, test process RSS +\(growth >> 10) MiB"
            )
            #expect(
                growth < max(96 << 10, bytes >> 12),
                "the test process grew by \(growth >> 10) MiB moving a \(bytes >> 20) MiB document: it is not streamed")
            try await Checker(scenario: scenario).check(title: "large building application")
        }
    }

    /// The plaintext scanner finds a sample anywhere in a file (any offset, across its read chunks) and nothing else.
    @Test func plaintextScanFindsSamplesAtAnyOffset() throws {
        let directory = try TempDir("kint-scan")
        try FileManager.default.createDirectory(atPath: directory.file("blobs/ab"), withIntermediateDirectories: true)
        let document = Scenario.document("geheim", bytes: 4096), other = Scenario.document("anderes", bytes: 4096)
        let samples = Scenario.samples(of: document) + Scenario.samples(of: other)
        // Sample 0 at an odd offset, sample 1 straddling the scanner's chunk boundary, sample 2 at the very end.
        var file = Scenario.document("rauschen", bytes: PlaintextScan.chunk + 100)
        file.replaceSubrange(13..<45, with: samples[0])
        file.replaceSubrange((PlaintextScan.chunk - 7)..<(PlaintextScan.chunk + 25), with: samples[1])
        file += samples[2]
        try Data(file).write(to: URL(fileURLWithPath: directory.file("blobs/ab/1.blob")))
        try Data(other.prefix(40)).write(to: URL(fileURLWithPath: directory.file("segment-1.log")))
        let result = try PlaintextScan(samples: samples).scan(directory.path)
        #expect(result.files == 2)
        #expect(Set(result.found.keys) == [0, 1, 2, 3], "found \(result.found)")
    }

    /// Sends (as Neubrandenburg) a message the broker must refuse with one of `codes`; the refusal must come with a
    /// signed `rejected` receipt, and goes into the ledger (the audit log must hold it).
    static func expectRefused(_ message: PreparedMessage, _ codes: Set<ErrorCode>, client: KlammerClient, scenario: Scenario) async throws {
        var refusal: KlammerClientError?
        do {
            _ = try await client.send(message)
        } catch {
            refusal = error
        }
        guard let refusal else { Issue.record("the broker accepted a message it must refuse with \(codes)"); return }
        guard let code = refusal.code, codes.contains(code) else { Issue.record("refused with \(refusal), expected \(codes)"); return }
        await scenario.ledger.refused(.init(action: "submission.refused", participant: neubrandenburg, code: code.name))
        let rejected = refusal.rejectedReceipt
        #expect(rejected?.receipt.kind == .rejected, "no rejected receipt with \(refusal)")
        if let rejected { try await client.verifyReceipt(rejected) }
    }

    static func residentKiB() -> Int { (ProcessMemory.resident() ?? 0) / 1024 }

    /// A participant revoked mid-run: its later sends fail, its earlier accepted messages are still delivered.
    @Test func participantRevokedMidRun() async throws {
        try await Scenario.with(only: [Self.neubrandenburg, Self.seenplatte]) { scenario in
            for n in 0..<5 {
                try await scenario.send(
                    from: Self.neubrandenburg, to: [Self.seenplatte], workflow: "melde", clientID: "melde-r-\(n)",
                    subject: "Meldung \(n)", payload: Scenario.document("r-\(n)", bytes: 800), sequence: n)
            }
            _ = try scenario.ctl(["participant", "revoke", Self.neubrandenburg])
            await scenario.agency(Self.neubrandenburg).markRevoked()
            await scenario.ledger.fault("participant revoked")
            // The broker cuts the revoked participant's live connection; its later send connects anew and is refused at
            // HELLO with PARTICIPANT_REVOKED at once (no retries), which the audit log records.
            await scenario.agency(Self.neubrandenburg).disconnect()
            await #expect {
                try await scenario.send(
                    from: Self.neubrandenburg, to: [Self.seenplatte], workflow: "melde", clientID: "melde-r-late",
                    subject: "nach Widerruf", payload: [1, 2, 3])
            } throws: { error in
                let e = error as? KlammerClientError
                return e?.kind == .participantRefused && e?.code == .participantRevoked
            }
            await scenario.ledger.refused(
                .init(action: "connection.refused", participant: Self.neubrandenburg, code: "PARTICIPANT_REVOKED"))
            #expect(
                try await Checker(scenario: scenario).unauditedRefusals(await scenario.ledger.refusals).isEmpty,
                "the revoked participant's refused connection is not in the audit log")
            scenario.startReceivers(except: [Self.neubrandenburg])
            try await scenario.waitUntilSettled(expected: ["melde": 5])
            // The revoked sender cannot read its routing slips any more: check them as the recipient.
            let snapshot = await scenario.ledger.snapshot()
            for id in snapshot.sentOrder {
                let slip = try await scenario.agency(Self.seenplatte).connection().status(id)
                #expect(slip.map(\.receipt.kind) == [.accepted, .delivered, .acknowledged])
            }
            #expect(snapshot.deliveries.count >= 5)
        }
    }

    /// Impersonation (envelope names another sender), forged signatures (another envelope's signature, a tampered
    /// signature) and an unregistered certificate are refused; nothing is delivered.
    @Test func impersonationAndForgeryAreRefused() async throws {
        try await Scenario.with(only: [Self.neubrandenburg, Self.seenplatte, Self.schwerin]) { scenario in
            let attacker = scenario.agency(Self.neubrandenburg)
            let client = try await attacker.connection()
            let victim = try ParticipantID(Self.schwerin), target = try ParticipantID(Self.seenplatte)
            let payload = Scenario.document("forged", bytes: 1000)

            let impersonating = try PreparedMessage.prepare(
                credentials: attacker.credentials, sender: victim, recipients: [target],
                subject: "Erlass (gefaelscht)", payload: .bytes(payload))
            // Our client library will not even send it; an attacker speaking the protocol itself gets it to the broker.
            await #expect { try await client.send(impersonating) } throws: {
                let e = $0 as? KlammerClientError
                return e?.kind == .invalidArgument && e?.code == .impersonation
            }
            let raw = try await RawAttacker.connect(port: await scenario.broker.port, credentials: attacker.credentials)
            let (refusal, rejected) = try await raw.submitBegin(impersonating.envelope)
            raw.close()
            #expect(refusal?.code == .impersonation, "the broker answered an impersonating SEND_BEGIN with \(String(describing: refusal))")
            #expect(rejected?.receipt.kind == .rejected && rejected?.receipt.reason == .impersonation)
            if let rejected { try await client.verifyReceipt(rejected) }
            if refusal?.code == .impersonation {
                await scenario.ledger.refused(.init(action: "submission.refused", participant: Self.neubrandenburg, code: "IMPERSONATION"))
            }

            let honest = try PreparedMessage.prepare(
                credentials: attacker.credentials, recipients: [target], subject: "A", payload: .bytes(payload))
            let other = try PreparedMessage.prepare(
                credentials: attacker.credentials, recipients: [target], subject: "B", payload: .bytes(payload))
            let swapped = PreparedMessage(envelope: honest.envelope, signature: other.signature, payload: honest.payload)
            try await Self.expectRefused(swapped, [.signatureInvalid], client: client, scenario: scenario)

            guard case .single(var cms) = honest.signature else { Issue.record("expected a single signature"); return }
            // (returns from the scenario body)
            cms[cms.count - 3] ^= 0x5A  // inside the ECDSA signature value at the end of the SignerInfo
            let tampered = PreparedMessage(envelope: honest.envelope, signature: .single(cms: cms), payload: honest.payload)
            try await Self.expectRefused(tampered, [.signatureInvalid, .invalidEnvelope], client: client, scenario: scenario)

            let impostor = try ClientCredentials.load(
                ClientProfile(
                    certificatePath: scenario.pki.certPath(NetworkPKI.impostor.id),
                    keyPath: scenario.pki.keyPath(NetworkPKI.impostor.id), caPath: scenario.pki.caPath))
            await #expect {
                _ = try await KlammerClient.connect(host: "127.0.0.1", port: await scenario.broker.port, credentials: impostor)
            } throws: {
                let e = $0 as? KlammerClientError
                return e?.kind == .participantRefused && e?.code == .unknownParticipant
            }
            await scenario.ledger.refused(.init(action: "connection.refused", participant: nil, code: "UNKNOWN_PARTICIPANT"))

            // Nothing reached the target.
            let receiver = scenario.spawn { await scenario.agency(Self.seenplatte).receiveLoop() }
            try await Task.sleep(for: .seconds(1))
            receiver.cancel()
            await receiver.value
            #expect(await scenario.ledger.snapshot().deliveries.isEmpty)
            // Each of the four refused attempts is in the audit log, which still verifies.
            try await Checker(scenario: scenario).check(title: "attacks")
        }
    }

    /// A short-TTL message to an offline recipient expires: the sender gets a signed `expired` receipt, and the
    /// recipient never receives it.
    @Test func shortTTLToOfflineRecipientExpires() async throws {
        try await Scenario.with(only: [Self.schwerin, Self.rostock]) { scenario in
            let receipt = try await scenario.send(
                from: Self.schwerin, to: [Self.rostock], workflow: "ttl", clientID: "ttl-1",
                subject: "Eilt", payload: [1, 2, 3], ttl: 2)
            let sender = try await scenario.agency(Self.schwerin).connection()
            var slip: [SignedReceipt] = []
            let deadline = Date() + 30
            while Date() < deadline {
                slip = try await sender.status(receipt.receipt.messageID)
                if slip.contains(where: { $0.receipt.kind == .expired }) { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            let expired = slip.first { $0.receipt.kind == .expired }
            #expect(expired != nil, "no expired receipt within 30 s: \(slip.map(\.receipt.kind))")
            if let expired {
                #expect(expired.receipt.recipient?.description == Self.rostock)
                try await sender.verifyReceipt(expired)
            }
            let recipient = try await scenario.agency(Self.rostock).connection()
            var received = 0
            for try await event in try await recipient.fetch(max: 10) { if case .message = event { received += 1 } }
            #expect(received == 0)
        }
    }

    /// A slow consumer (its TCP receive side throttled) with a large backlog: the broker's RSS stays bounded.
    @Test func slowConsumerKeepsBrokerMemoryBounded() async throws {
        let proxy = try CutProxy(targetPort: 1)
        defer { proxy.stop() }
        try await Scenario.with(only: [Self.schwerin, Self.rostock], proxied: [Self.rostock: proxy]) { scenario in
            proxy.setTarget(await scenario.broker.port)
            proxy.throttle(bytesPerSecond: 4 * 1024 * 1024)
            let size = scenario.size
            let baseline = await scenario.broker.sampleRSS()
            scenario.spawn { await scenario.agency(Self.rostock).receiveLoop(batch: 64) }
            let sampler = scenario.spawn {
                while !Task.isCancelled {
                    await scenario.broker.sampleRSS()
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<4 {
                    group.addTask {
                        for n in stride(from: lane, to: size.slowMessages, by: 4) {
                            try await scenario.send(
                                from: Self.schwerin, to: [Self.rostock], workflow: "slow", clientID: "slow-\(n)", subject: "Akte \(n)",
                                payload: Scenario.document("slow-\(n)", bytes: size.slowMessageBytes))
                        }
                    }
                }
                try await group.waitForAll()
            }
            await scenario.ledger.fault("slow consumer")
            try await scenario.waitUntilSettled(expected: ["slow": size.slowMessages])
            sampler.cancel()
            await sampler.value
            let peak = await scenario.broker.maxRSSKiB
            let backlog = size.slowMessages * size.slowMessageBytes / 1024
            print("slow consumer: broker RSS baseline \(baseline / 1024) MiB, peak \(peak / 1024) MiB, total backlog \(backlog / 1024) MiB")
            // Bounded: growth well below the bytes queued for the slow consumer (the broker streams from disk).
            #expect(
                peak - baseline < max(64 * 1024, backlog / 2),
                "broker RSS grew by \((peak - baseline) / 1024) MiB for a \(backlog / 1024) MiB backlog")
            try await Checker(scenario: scenario).check(title: "slow consumer")
        }
    }

    /// Everything at once: all workflows, broker kills, a recipient offline for the first half, connection cuts
    /// during building applications, a revocation, attacks.
    @Test func combinedFaults() async throws {
        let pki = try await SharedPKI.get()
        let cutMember = pki.members.first { $0.kind == .municipality }!.id
        let proxy = try CutProxy(targetPort: 1)
        defer { proxy.stop() }
        try await Scenario.with(proxied: [cutMember: proxy]) { scenario in
            proxy.setTarget(await scenario.broker.port)
            await scenario.installHandlers()
            let offline = "ags:13075000"
            scenario.startReceivers(except: [offline])
            let expected = scenario.expectedCounts().merging(["revoked": 3]) { $0 + $1 }
            scenario.reportProgress()
            let crashes = Self.crashInjector(scenario, proxies: [proxy])
            let cut = CutOnce(proxy: proxy, atBytes: 200_000)
            async let melde: Void = scenario.registration()
            let cutProgress: KlammerClient.Progress = { sent, _ in cut.observe(sent) }
            let progressFor: @Sendable (String) -> KlammerClient.Progress? = { id in id == cutMember ? cutProgress : nil }
            async let bau: Void = scenario.building(progress: progressFor)
            async let erlass: Void = scenario.decree()
            async let gewerbe: Void = scenario.tradeNotices()
            // A state agency sends three messages, then is revoked.
            for n in 0..<3 {
                try await scenario.send(
                    from: "lgeo:mv", to: [MVDirectory.ministry.id], workflow: "revoked", clientID: "lgeo-\(n)",
                    subject: "Bericht \(n)", payload: Scenario.document("lgeo-\(n)", bytes: 2000))
            }
            try await scenario.ctlDuringFaults(["participant", "revoke", "lgeo:mv"])
            await scenario.agency("lgeo:mv").markRevoked()
            #expect(try await scenario.ctlDuringFaults(["participant", "show", "lgeo:mv", "--json"]).stdout.contains("\"revoked\""))
            await scenario.ledger.fault("participant revoked")
            // Its later send: a new connection, refused at HELLO (and audited); a broker kill in between only delays it.
            await scenario.agency("lgeo:mv").disconnect()
            await #expect {
                try await scenario.send(
                    from: "lgeo:mv", to: [MVDirectory.ministry.id], workflow: "revoked", clientID: "lgeo-late",
                    subject: "nach Widerruf", payload: [1])
            } throws: { error in
                let e = error as? KlammerClientError
                return e?.kind == .participantRefused && e?.code == .participantRevoked
            }
            await scenario.ledger.refused(.init(action: "connection.refused", participant: "lgeo:mv", code: "PARTICIPANT_REVOKED"))
            // An impersonation attempt in the middle of the traffic: a municipality signs a "decree" as the ministry.
            let forger = scenario.agency(cutMember == "ags:13071101" ? "ags:13071102" : "ags:13071101")
            let forged = try PreparedMessage.prepare(
                credentials: forger.credentials, sender: try ParticipantID(MVDirectory.ministry.id),
                recipients: [try ParticipantID(offline)], subject: "Erlass", payload: .bytes([1, 2]))
            // Sent with the raw protocol (KlammerClient refuses to send it); a broker kill in between means another try.
            var refusal: ErrorCode?
            for _ in 0..<20 where refusal == nil {
                if let raw = try? await RawAttacker.connect(port: await scenario.broker.port, credentials: forger.credentials) {
                    refusal = try? await raw.submitBegin(forged.envelope).error?.code
                    raw.close()
                }
                if refusal == nil { try await Task.sleep(for: .milliseconds(300)) }
            }
            #expect(refusal == .impersonation, "the broker answered an impersonating SEND_BEGIN with \(String(describing: refusal))")
            if refusal == .impersonation {
                await scenario.ledger.refused(.init(action: "submission.refused", participant: forger.member.id, code: "IMPERSONATION"))
            }
            _ = try await (melde, bau, erlass, gewerbe)
            await scenario.ledger.fault("recipient offline: first half")
            scenario.spawn { await scenario.agency(offline).receiveLoop() }
            await crashes.value
            try await scenario.waitUntilSettled(expected: expected)
            if cut.fired { await scenario.ledger.fault("connection cut mid-transfer") }
            try await Checker(scenario: scenario).check(title: "combined faults", slipSample: 400)
        }
    }
}

/// Cuts the proxy once, when an upload has passed `atBytes`.
final class CutOnce: Sendable {
    let proxy: CutProxy
    let atBytes: UInt64
    private let done = Mutex(false)
    init(proxy: CutProxy, atBytes: UInt64) { self.proxy = proxy; self.atBytes = atBytes }
    var fired: Bool { done.withLock { $0 } }
    func observe(_ sent: UInt64) {
        guard sent >= atBytes,
            done.withLock({
                let was = $0; $0 = true; return !was
            })
        else { return }
        proxy.cutAll()
    }
}
