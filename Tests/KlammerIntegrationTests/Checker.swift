import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import Testing

/// Checks the ledger against the broker's own records after a run and prints the summary table.
struct Checker {
    let scenario: Scenario

    struct Report {
        var perWorkflow: [String: Int] = [:]
        var deliveries = 0
        var redeliveries = 0
        var latenciesMs: [Double] = []
        var opensslVerified = 0
        var slipsChecked = 0
        var plaintextScan = "not run"
        var refusalsAudited = 0
        var decrypted = 0
    }

    /// - Parameter slipSample: how many messages' routing slips are fetched and checked (in sending order).
    @discardableResult
    func check(title: String, slipSample: Int = .max) async throws -> Report {
        let s = await scenario.ledger.snapshot()
        var report = Report()
        for sent in s.sent.values { report.perWorkflow[sent.workflow, default: 0] += 1 }

        // 1. Every confirmed message reached every recipient; de-duplicated by message id exactly once.
        for id in s.sentOrder {
            let sent = s.sent[id]!
            for recipient in sent.recipients {
                let first = s.firstDelivery[recipient]?[id]
                #expect(first != nil, "\(sent.workflow) message \(id.hex) from \(sent.sender) never reached \(recipient)")
                if let first { report.latenciesMs.append(first.timeIntervalSince(sent.startedAt) * 1000) }
            }
        }
        // 2. Nothing that was not confirmed, nothing to a non-recipient, every copy intact and verified.
        for d in s.deliveries {
            report.deliveries += 1
            guard let sent = s.sent[d.messageID] else {
                Issue.record("\(d.recipient) received message \(d.messageID.hex) (\(d.clientMessageID)) that no sender has a receipt for")
                continue
            }
            #expect(sent.recipients.contains(d.recipient), "\(d.recipient) received \(d.messageID.hex) addressed to \(sent.recipients)")
            #expect(
                d.payloadSHA256 == sent.payloadSHA256,
                "payload of \(d.messageID.hex) at \(d.recipient) differs from what \(sent.sender) sent")
            #expect(d.verified, "\(d.messageID.hex) did not verify at \(d.recipient)")
            if let plaintext = sent.plaintextSHA256 {
                #expect(
                    d.plaintextSHA256 == plaintext,
                    "\(d.recipient) could not decrypt \(d.messageID.hex) (\(sent.workflow)) to what \(sent.sender) encrypted")
                report.decrypted += d.plaintextSHA256 == plaintext ? 1 : 0
            }
            #expect(d.sender == sent.sender && d.clientMessageID == sent.clientMessageID)
        }
        let distinct = Set(s.deliveries.map { Ledger.key($0.recipient, $0.messageID) }).count
        report.redeliveries = s.deliveries.count - distinct
        #expect(distinct == s.sent.values.reduce(0) { $0 + $1.recipients.count })

        // 3. Registration: per (sender, recipient) the first deliveries follow the sending order.
        for (recipient, order) in s.firstOrder {
            var last: [String: Int] = [:]
            for id in order {
                guard let sent = s.sent[id], sent.workflow == "melde", let seq = sent.sequence else { continue }
                if let previous = last[sent.sender] {
                    #expect(seq > previous, "registration \(sent.sender) → \(recipient): message \(seq) arrived after \(previous)")
                }
                last[sent.sender] = seq
            }
        }

        // 4. Signatures of a sample, independently with `openssl cms -verify` (bounded by `timeout`).
        let scratch = try TempDir("kint-cms")
        for message in s.samples {
            let directory = try MessageDirectory.write(message, into: scratch.path)
            let result = try Tool.openssl([
                "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
                "-content", directory + "/envelope.bin", "-certfile", directory + "/sender.pem",
                "-CAfile", scenario.pki.caPath, "-purpose", "any", "-out", "/dev/null"
            ])
            #expect(result.status == 0, "openssl cms -verify of \(message.messageID.hex): \(result.stderr)")
            if result.status == 0 { report.opensslVerified += 1 }
        }

        // 5. Routing slips: accepted, then delivered and acknowledged for every recipient; every receipt signed by the broker.
        for id in s.sentOrder.prefix(slipSample) {
            let sent = s.sent[id]!
            guard await scenario.broker.isRunning else { break }
            // The sender reads its slip; a sender revoked meanwhile cannot connect, so then a recipient reads it.
            var slip: [SignedReceipt] = []
            var reader: KlammerClient?
            readers: for party in [sent.sender] + sent.recipients {
                for attempt in 0..<3 {
                    do {
                        let client = try await scenario.agency(party).connection()
                        slip = try await client.status(id)
                        reader = client
                        break readers
                    } catch {
                        try await Task.sleep(for: .milliseconds(200 * (attempt + 1)))
                    }
                }
            }
            guard let client = reader else {
                Issue.record("nobody could read the routing slip of \(id.hex)")
                continue
            }
            let kinds = slip.map(\.receipt.kind)
            #expect(kinds.first == .accepted, "routing slip of \(id.hex) starts with \(kinds)")
            for recipient in sent.recipients {
                for kind in [Receipt.Kind.delivered, .acknowledged] {
                    #expect(
                        slip.contains { $0.receipt.kind == kind && $0.receipt.recipient?.description == recipient },
                        "routing slip of \(id.hex) (\(sent.workflow)) has no \(kind) receipt for \(recipient): \(kinds)")
                }
            }
            for receipt in slip {
                do { try await client.verifyReceipt(receipt) } catch {
                    Issue.record("receipt \(receipt.receipt.kind) of \(id.hex) does not verify: \(error)")
                }
            }
            report.slipsChecked += 1
        }

        // 6. The audit log is intact (through the admin API and offline with the broker certificate).
        if await scenario.broker.isRunning {
            let online = try Tool.run(Tool.binary("klammerctl"), ["audit", "verify", "--socket", scenario.adminSocket])
            #expect(online.status == 0, "klammerctl audit verify: \(online.stderr) \(online.stdout)")
        }
        let offline = try Tool.run(
            Tool.binary("klammerctl"),
            [
                "audit", "verify", "--file", scenario.directory.file("data/audit.jsonl"),
                "--broker-cert", scenario.pki.brokerCert
            ])
        #expect(offline.status == 0, "klammerctl audit verify --file: \(offline.stderr) \(offline.stdout)")

        // 6b. Every refused attempt of the run is in the audit log (the recorder writes asynchronously: bounded wait).
        if !s.refusals.isEmpty {
            let missing = try await unauditedRefusals(s.refusals)
            #expect(missing.isEmpty, "refused attempts missing from the audit log: \(missing)")
            report.refusalsAudited = s.refusals.count - missing.count
        }

        // 7. No plaintext of an end-to-end encrypted payload anywhere in the broker's data directory.
        if await scenario.broker.isRunning {
            report.plaintextScan = try await scanForPlaintext(encrypted: s.sent.values.map(\.plaintextSamples).filter { !$0.isEmpty })
        }

        await printSummary(title: title, report: report, faults: s.faults, refusals: s.refusals)
        return report
    }

    func printSummary(title: String, report: Report, faults: [String], refusals: [Ledger.Refusal]) async {
        let sorted = report.latenciesMs.sorted()
        func percentile(_ p: Double) -> String {
            sorted.isEmpty ? "-" : String(format: "%.0f ms", sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))])
        }
        var faultCounts: [String: Int] = [:]
        for f in faults { faultCounts[f.components(separatedBy: ":").first ?? f, default: 0] += 1 }
        let rss = await scenario.broker.maxRSSKiB
        var lines = [
            "", "== Klammer integration: \(title) (size \(scenario.size.name), \(scenario.members.count) participants) ==",
            "| workflow | messages |", "|---|---|"
        ]
        for (workflow, count) in report.perWorkflow.sorted(by: { $0.key < $1.key }) { lines.append("| \(workflow) | \(count) |") }
        lines += [
            "| deliveries (incl. \(report.redeliveries) redeliveries) | \(report.deliveries) |",
            "| faults | \(faultCounts.isEmpty ? "none" : faultCounts.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")) |",
            "| refused attempts / found in the audit log | \(refusals.count) / \(report.refusalsAudited) |",
            "| end-to-end latency p50 / p99 | \(percentile(0.5)) / \(percentile(0.99)) |",
            "| max broker RSS | \(rss / 1024) MiB |",
            "| signatures verified with openssl | \(report.opensslVerified) |",
            "| end-to-end encrypted deliveries decrypted | \(report.decrypted) |",
            "| routing slips checked | \(report.slipsChecked) |",
            "| plaintext scan of the data directory | \(report.plaintextScan) |"
        ]
        print(lines.joined(separator: "\n"))
    }

    /// Scans every file under the broker's data directory for 32-byte pieces of each end-to-end encrypted document
    /// (`encrypted`, per document); none may be found. So that the scan provably can fail, two unencrypted control
    /// documents (one inline in the log, one a blob) are first sent to the archive, which never fetches: both must
    /// be found.
    /// - Returns: a line for the summary table.
    /// - Parameter present: further samples that must be found (unencrypted documents known to be stored now).
    func scanForPlaintext(encrypted: [[[UInt8]]], present: [[UInt8]] = []) async throws -> String {
        let controls = [
            Scenario.document("kontrolle-inline-\(UUID())", bytes: 3000), Scenario.document("kontrolle-blob-\(UUID())", bytes: 400_000)
        ]
        var sender: Agency?
        for member in scenario.members where member.kind != .archive {
            let agency = scenario.agency(member.id)
            if await !agency.revoked { sender = agency; break }
        }
        guard let sender else { throw IntegrationError("plaintext scan: no participant left to send the control documents") }
        for (n, control) in controls.enumerated() {
            let prepared = try PreparedMessage.prepare(
                credentials: sender.credentials, recipients: [MVDirectory.archive.participantID],
                subject: "Kontrolle \(n)", payload: .bytes(control))
            var attempt = 0
            while true {
                attempt += 1
                var used: KlammerClient?
                do {
                    let client = try await sender.connection()
                    used = client
                    _ = try await client.send(prepared)
                    break
                } catch let error as KlammerClientError where error.isRetryable && attempt < 20 {
                    await sender.drop(used)
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
        }
        let controlSamples = controls.flatMap(Scenario.samples(of:)) + present
        let encryptedSamples = encrypted.flatMap { $0 }
        let started = Date()
        let result = try PlaintextScan(samples: controlSamples + encryptedSamples).scan(scenario.directory.file("data"))
        let missing = (0..<controlSamples.count).filter { result.found[$0] == nil }
        #expect(
            missing.isEmpty,
            "plaintext scan: control samples \(missing) of unencrypted documents were not found in \(result.files) files: the scan cannot see payloads"
        )
        let leaked = result.found.filter { $0.key >= controlSamples.count }
        #expect(
            leaked.isEmpty,
            "plaintext of \(leaked.count) samples of end-to-end encrypted documents found in the broker's data directory: \(Set(leaked.values).sorted().prefix(5))"
        )
        return "\(result.files) files, \(result.bytes >> 20) MiB in \(String(format: "%.1f", Date().timeIntervalSince(started))) s: "
            + "\(leaked.count) of \(encryptedSamples.count) samples of \(encrypted.count) encrypted documents found, "
            + "\(controlSamples.count - missing.count)/\(controlSamples.count) control samples found"
    }

    /// The refusals for which `data/audit.jsonl` holds no matching `outcome: refused` entry (same action, error code
    /// name, and participant as subject), counting multiplicity. Polls up to 10 s.
    func unauditedRefusals(_ refusals: [Ledger.Refusal]) async throws -> [Ledger.Refusal] {
        let deadline = Date() + 10
        while true {
            var available: [Ledger.Refusal: Int] = [:]
            let text = (try? String(contentsOfFile: scenario.directory.file("data/audit.jsonl"), encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") {
                guard let entry = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    entry["outcome"] as? String == "refused", let action = entry["action"] as? String,
                    let details = entry["details"] as? [String: String], let code = details["code_name"]
                else { continue }
                let subject = entry["subject"] as? String ?? ""
                available[Ledger.Refusal(action: action, participant: subject.isEmpty ? nil : subject, code: code), default: 0] += 1
            }
            var missing: [Ledger.Refusal] = []
            for refusal in refusals {
                if available[refusal, default: 0] > 0 { available[refusal]! -= 1 } else { missing.append(refusal) }
            }
            if missing.isEmpty || Date() > deadline { return missing }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}
