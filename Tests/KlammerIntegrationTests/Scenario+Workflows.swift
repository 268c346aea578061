import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol

/// The administrative workflows, as concurrent scripted actors.
extension Scenario {
    static let bauantrag = "application/x-bauantrag", nachforderung = "application/x-bauantrag-nachforderung",
        ergaenzung = "application/x-bauantrag-ergaenzung"

    var municipalities: [Member] { members.filter { $0.kind == .municipality } }
    var localAuthorities: [Member] { members.filter { $0.kind == .municipality || $0.kind == .amt } }

    /// What the workflows will have sent when they are done: workflow → message count.
    func expectedCounts() -> [String: Int] {
        let pairs = min(size.registrationPairs, municipalities.count)
        return [
            "melde": pairs * 2 * size.registrationsPerDirection,
            "bau": size.buildingApplications * 3,
            "erlass": (localAuthorities.count + 255) / 256,
            "gewerbe": size.tradeNotices
        ]
    }

    /// Districts answer building applications (Nachforderung, in reply to), municipalities answer the Nachforderung
    /// (Ergänzung, in reply to that). Deterministic client ids: a handler that runs twice sends nothing twice.
    func installHandlers() async {
        for member in members {
            await agency(member.id).setHandler { [self] message in
                let sender = message.envelope.sender.description
                // Building messages are end-to-end encrypted (the content type then names the CMS wrapping): the
                // subject tells the application what it is.
                let subject = message.envelope.subject
                do {
                    if subject.hasPrefix("Bauantrag") {
                        try await send(
                            from: member.id, to: [sender], workflow: "bau", clientID: "bau-nf-\(message.messageID.hex)",
                            subject: "Nachforderung zu \(subject)", contentType: Self.nachforderung,
                            payload: Self.document("nf-\(message.messageID.hex)", bytes: 3000), encrypted: true,
                            inReplyTo: message.messageID)
                    } else if subject.hasPrefix("Nachforderung") {
                        try await send(
                            from: member.id, to: [sender], workflow: "bau", clientID: "bau-erg-\(message.messageID.hex)",
                            subject: "Ergaenzung", contentType: Self.ergaenzung,
                            payload: Self.document("erg-\(message.messageID.hex)", bytes: 20_000), encrypted: true,
                            inReplyTo: message.messageID)
                    }
                } catch {
                    await ledger.fault("handler of \(member.id) failed: \(error)")
                }
            }
        }
    }

    /// Residence registration (Meldewesen): municipality ↔ its district, many small messages in both directions,
    /// each direction strictly in order (the next is sent when the previous is confirmed).
    func registration() async throws {
        let pairs = municipalities.prefix(size.registrationPairs).map { ($0.id, $0.district!) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (a, b) in pairs {
                for (from, to) in [(a, b), (b, a)] {
                    group.addTask { [self] in
                        for n in 0..<size.registrationsPerDirection {
                            try await send(
                                from: from, to: [to], workflow: "melde", clientID: "melde-\(from)-\(to)-\(n)",
                                subject: "Meldung \(n)", contentType: "application/xml",
                                payload: Self.document("melde-\(from)-\(to)-\(n)", bytes: 200 + (n * 37) % 1800), sequence: n)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Building applications: municipality → district with a larger attachment (above the inline limit: a blob).
    func building(progress: (@Sendable (String) -> KlammerClient.Progress?)? = nil) async throws {
        let applicants = municipalities
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<size.buildingApplications {
                let m = applicants[i % applicants.count]
                group.addTask { [self] in
                    try await send(
                        from: m.id, to: [m.district!], workflow: "bau", clientID: "bau-\(m.id)-\(i)",
                        subject: "Bauantrag \(i)", contentType: Self.bauantrag,
                        payload: Self.document("bau-\(i)", bytes: size.attachmentBytes + i), encrypted: true,
                        progress: progress?(m.id))
                }
            }
            try await group.waitForAll()
        }
    }

    /// Decree (Erlass): ministry → every municipality and Amt (fan-out, ≤ 256 recipients per message).
    func decree() async throws {
        let recipients = localAuthorities.map(\.id)
        for (index, start) in stride(from: 0, to: recipients.count, by: 256).enumerated() {
            try await send(
                from: MVDirectory.ministry.id, to: Array(recipients[start..<min(start + 256, recipients.count)]),
                workflow: "erlass", clientID: "erlass-2026-\(index)", subject: "Erlass zur Kommunalwahl",
                payload: Self.document("erlass-\(index)", bytes: 60_000))
        }
    }

    /// Trade notices (Gewerbeanzeige): one send to the district, the chamber(s) and the tax office.
    func tradeNotices() async throws {
        let applicants = municipalities
        let agencies = members.filter { $0.kind == .agency && $0.id != "lgeo:mv" }.map(\.id)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<size.tradeNotices {
                let m = applicants[(i * 7) % applicants.count]
                group.addTask { [self] in
                    try await send(
                        from: m.id, to: [m.district!] + agencies, workflow: "gewerbe", clientID: "gewerbe-\(m.id)-\(i)",
                        subject: "Gewerbeanmeldung \(i)", contentType: "application/xml",
                        payload: Self.document("gewerbe-\(i)", bytes: 1500))
                }
            }
            try await group.waitForAll()
        }
    }

    /// Prints (to stderr, unbuffered) every `interval` how far the run is: messages confirmed per workflow, their
    /// rate, deliveries, unacknowledged pairs, broker kills and RSS; a long run shows its progress and its rate even
    /// if it is stopped before the end (also appended to `KLAMMER_INTEGRATION_PROGRESS`, default
    /// /tmp/klammer-integration-progress.log). Only for the medium and large sizes.
    static var progressFile: String {
        ProcessInfo.processInfo.environment["KLAMMER_INTEGRATION_PROGRESS"] ?? "/tmp/klammer-integration-progress.log"
    }

    func reportProgress(every interval: Duration = .seconds(30)) {
        guard size.name != "ci" else { return }
        let started = Date()
        spawn { [self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let counts = await ledger.sentCounts, deliveries = await ledger.deliveryCount, pending = await ledger.pendingCount
                let total = counts.values.reduce(0, +), seconds = Date().timeIntervalSince(started)
                let line = String(
                    format:
                        "[progress %@] %.0f s: %d messages confirmed (%.1f/s) %@, %d deliveries, %d pairs unacknowledged, %d broker kills, broker RSS %d MiB, test process RSS %d MiB\n",
                    size.name, seconds, total, Double(total) / max(seconds, 1),
                    counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
                    deliveries, pending, await broker.kills, await broker.sampleRSS() >> 10, IntegrationTests.residentKiB() >> 10)
                FileHandle.standardError.write(Data(line.utf8))
                // swift test relays the test process's output in large pieces: also append to a file.
                if let file = FileHandle(forWritingAtPath: Self.progressFile)
                    ?? {
                        _ = FileManager.default.createFile(atPath: Self.progressFile, contents: nil)
                        return FileHandle(forWritingAtPath: Self.progressFile)
                    }()
                {
                    _ = try? file.seekToEnd()
                    try? file.write(contentsOf: Data(line.utf8))
                    try? file.close()
                }
            }
        }
    }

    /// Starts every agency's receive loop except `offline`.
    @discardableResult
    func startReceivers(except offline: Set<String> = []) -> [Task<Void, Never>] {
        agencies.values.filter { !offline.contains($0.member.id) && $0.member.kind != .archive }.map { agency in
            spawn { await agency.receiveLoop() }
        }
    }

    /// Waits until every workflow sent what it should and every (message, recipient) pair is acknowledged. A pair
    /// whose ACK confirmation was lost in a crash is resolved through the sender's routing slip.
    func waitUntilSettled(expected: [String: Int]) async throws {
        var lastPendingCount = -1, stableSince = Date()
        while Date() < deadline {
            var countsReached = true
            for (workflow, count) in expected where await ledger.count(workflow: workflow) < count { countsReached = false }
            let pendingCount = await ledger.pendingCount
            if countsReached && pendingCount == 0 { return }
            if pendingCount != lastPendingCount { lastPendingCount = pendingCount; stableSince = Date() }
            if pendingCount > 0, Date().timeIntervalSince(stableSince) > 4 {
                for (id, recipient) in await ledger.pending().prefix(50) {
                    guard let sent = await ledger.sent[id], await ledger.wasDelivered(id, to: recipient),
                        let slip = try? await agency(sent.sender).connection().status(id)
                    else { continue }
                    if slip.contains(where: { $0.receipt.kind == .acknowledged && $0.receipt.recipient?.description == recipient }) {
                        await ledger.acknowledged(id, by: recipient)
                    }
                }
                stableSince = Date()
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        var counts: [String: Int] = [:]
        for workflow in expected.keys { counts[workflow] = await ledger.count(workflow: workflow) }
        // Say exactly what is missing: per pair the deliveries seen and the broker's routing slip.
        var details: [String] = []
        let snapshot = await ledger.snapshot()
        for (id, recipient) in await ledger.pending().prefix(10) {
            let sent = snapshot.sent[id]!
            let copies = snapshot.deliveries.filter { $0.messageID == id && $0.recipient == recipient }.count
            let slip = (try? await agency(sent.sender).connection().status(id))?.map {
                "\($0.receipt.kind)\($0.receipt.recipient.map { "→\($0)" } ?? "")"
            }
            details.append("\(sent.workflow) \(id.hex) \(sent.sender)→\(recipient): delivered \(copies)×, slip \(slip ?? ["unavailable"])")
        }
        throw IntegrationError(
            "not settled before the deadline: sent \(counts) of \(expected), \(await ledger.pendingCount) pairs unacknowledged:\n"
                + details.joined(separator: "\n"))
    }
}
