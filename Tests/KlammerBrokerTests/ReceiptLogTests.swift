import Foundation
import Testing
@testable import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

/// The routing-slip log keeps receipts on disk, replays in bounded memory and drops finished slips past retention
/// (SPEC.md §7.4). The large integration run found the broker at 1.4 GiB after 101k messages when every signed
/// receipt lived in the index.
@Suite(.timeLimit(.minutes(3))) struct ReceiptLogTests {
    /// Routing slips are read back from `receipts.klog`, not from memory: a byte changed in the file under the
    /// running broker turns into STORAGE_UNAVAILABLE naming the damage, never into a wrong receipt.
    @Test func slipsAreReadFromTheFileAndDamageIsReported() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let sender = f.party(BrokerFixture.sender).id
        #expect(try f.broker.routingSlip(of: accepted.receipt.messageID, requester: sender).map(\.encodedBytes) == [accepted.encodedBytes])

        let log = f.dir.file("broker/receipts.klog")
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: log)))
        bytes[40] ^= 0x01
        let handle = try #require(FileHandle(forWritingAtPath: log))
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
        #expect { _ = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: sender) } throws: { error in
            let e = error as? ProtocolError
            return e?.code == .storageUnavailable && e?.message.contains("damaged at offset 0") == true
        }
        // A duplicate submission needs the original receipt, which cannot be read either: refused, not mis-answered.
        #expect {
            _ = try f.broker.beginSubmission(
                from: f.participant(BrokerFixture.sender), envelopeBytes: try f.envelope(payload: payload).canonicalBytes)
        } throws: { ($0 as? ProtocolError)?.code == .storageUnavailable }
    }

    /// After the retention only finished slips go (acknowledged or expired for every recipient); an open message
    /// keeps its slip, so its later expiry still finds the accepted receipt; the file shrinks, later receipts land at
    /// the right offsets and everything survives a restart.
    @Test func compactionRemovesOnlyFinishedSlipsPastTheRetention() async throws {
        let f = try await BrokerFixture()
        let sender = f.party(BrokerFixture.sender).id
        let b = f.participant(BrokerFixture.b)
        let payload = payloadBytes(300)
        // Finished: delivered to and acknowledged by b.
        let finished = try await f.send(try f.envelope(payload: payload, clientID: "finished"), payload: payload)
        let d = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c"), max: 1).first)
        _ = try await f.broker.markDelivered(d)
        let (statement, signature) = try f.acknowledgement(for: d, by: BrokerFixture.b)
        _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("c"), statement: statement, signature: signature)
        // Open: to b and c, acknowledged by b only (c never fetches it).
        let open = try await f.send(
            try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: payload, clientID: "open"), payload: payload)
        let d2 = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("c"), max: 1).first)
        _ = try await f.broker.markDelivered(d2)
        let ack2 = try f.acknowledgement(for: d2, by: BrokerFixture.b)
        _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("c"), statement: ack2.statement, signature: ack2.signature)
        let openSlip = try f.broker.routingSlip(of: open.receipt.messageID, requester: sender).map(\.encodedBytes)
        #expect(openSlip.count == 3)

        // Inside the retention nothing goes.
        let early = try await f.broker.compactReceiptLog(minimumReclaimFraction: 0)
        #expect(!early.rewritten && early.messagesRemoved == 0 && early.messagesKept == 2)

        f.clock.advance(91 * 24 * 3600)
        let report = try await f.broker.compactReceiptLog(minimumReclaimFraction: 0)
        #expect(report.rewritten && report.messagesRemoved == 1 && report.messagesKept == 1)
        #expect(report.bytesAfter < report.bytesBefore)
        let size = try FileManager.default.attributesOfItem(atPath: f.dir.file("broker/receipts.klog"))[.size] as? Int
        #expect(Int64(size ?? -1) == report.bytesAfter)
        #expect { _ = try f.broker.routingSlip(of: finished.receipt.messageID, requester: sender) } throws: {
            ($0 as? ProtocolError)?.code == .unknownMessage
        }
        #expect(try f.broker.routingSlip(of: open.receipt.messageID, requester: sender).map(\.encodedBytes) == openSlip)
        // Nothing left to reclaim: no rewrite.
        #expect(try await f.broker.compactReceiptLog(minimumReclaimFraction: 0).rewritten == false)

        // The open message's TTL has run out for c: the expiry receipt is issued from the kept slip and appended to
        // the compacted file, which finishes the message.
        let live = try f.broker.receipts(for: sender)
        let broker = f.broker
        let runner = Task { await broker.run() }
        #expect(try await f.broker.lease(for: f.participant(BrokerFixture.c), consumer: ConsumerID("c"), max: 1).isEmpty)
        var expired: SignedReceipt?
        for await r in live where r.receipt.kind == .expired { expired = r; break }
        #expect(expired?.receipt.messageID == open.receipt.messageID)
        runner.cancel()
        // Finished now and accepted long before the dedupe window: the next compaction moves it to the cold index,
        // from which its slip is rebuilt, with the same visibility rule.
        let cooled = try await f.broker.compactReceiptLog(minimumReclaimFraction: 1.1)
        #expect(cooled.messagesMadeCold == 1 && !cooled.rewritten && f.broker.receiptLogCounts.cold == 1)
        #expect(
            try f.broker.routingSlip(of: open.receipt.messageID, requester: f.party(BrokerFixture.c).id).map(\.receipt.kind)
                == [.accepted, .delivered, .acknowledged, .expired])
        #expect { _ = try f.broker.routingSlip(of: open.receipt.messageID, requester: f.party(BrokerFixture.d).id) } throws: {
            ($0 as? ProtocolError)?.code == .unknownMessage
        }
        #expect(try f.broker.trace(open.receipt.messageID)?.recipients == [BrokerFixture.b, BrokerFixture.c])
        let later = try await f.send(try f.envelope(payload: payload, clientID: "later"), payload: payload)

        // A compaction that died before its rename leaves a partial file behind; open ignores and deletes it.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: f.dir.file("broker/receipts.klog.compact")))
        try await f.restart()
        #expect(!FileManager.default.fileExists(atPath: f.dir.file("broker/receipts.klog.compact")))
        let kinds = try f.broker.routingSlip(of: open.receipt.messageID, requester: sender).map(\.receipt.kind)
        #expect(kinds == [.accepted, .delivered, .acknowledged, .expired])
        #expect(f.broker.receiptLogCounts.cold == 1)  // demoted again at open
        #expect(try f.broker.routingSlip(of: later.receipt.messageID, requester: sender).map(\.encodedBytes) == [later.encodedBytes])
        #expect { _ = try f.broker.routingSlip(of: finished.receipt.messageID, requester: sender) } throws: {
            ($0 as? ProtocolError)?.code == .unknownMessage
        }
        #expect(try !FileManager.default.contentsOfDirectory(atPath: f.dir.file("broker")).contains { $0.hasSuffix(".bad") })
        // Now finished too; the message sent after the clock jump is still inside the retention.
        f.clock.advance(91 * 24 * 3600)
        let last = try await f.broker.compactReceiptLog(minimumReclaimFraction: 0)
        #expect(last.messagesRemoved == 1 && last.messagesKept == 1)
    }

    @Test func retentionShorterThanTheDedupeWindowIsRefused() throws {
        let key = try PrivateKey.generate(.p256)
        let ca = try CertificateAuthority.create(commonName: "Retention Test CA")
        let cert = try ca.issue(
            commonName: "klammer-1", subjectAlternativeNames: ["DNS:localhost"], publicKey: key.publicKey, usage: .server)
        var config = try BrokerConfiguration(
            brokerID: try ParticipantID("broker:klammer-1"), certificate: cert, key: key, directory: "/nonexistent")
        config.receiptRetention = .seconds(3600)
        #expect { try config.validate() } throws: { ($0 as? BrokerError)?.message.contains("dedupe window") == true }
        config.receiptRetention = config.dedupeWindow
        try config.validate()
    }

    /// 10,000 messages × 3 receipts (≈ 40 MB of records): replay reads in chunks and the index keeps no receipts,
    /// so opening the log costs a fraction of the file in memory (it used to read the whole file and keep every
    /// receipt); every slip reads back exactly.
    @Test func replayAndIndexStaySmallAgainstTheFile() async throws {
        // Memory is measured in processes of their own: this (shared) test process writes the log; one fresh child run
        // of the test binary opens it into the cold index, a second one into full entries, each as the first thing it
        // does and against its own baseline (RSS here depends on every earlier test, and a second open in the same
        // process on the first one's freed memory).
        let name = "ReceiptLogTests/replayAndIndexStaySmallAgainstTheFile", directoryVariable = "KLAMMER_TEST_RECEIPT_LOG_DIRECTORY"
        let phaseVariable = "KLAMMER_TEST_RECEIPT_LOG_PHASE", coldKeptVariable = "KLAMMER_TEST_RECEIPT_LOG_COLD_KEPT"
        let messages = Self.replayMessages
        let sender = Self.replaySender, recipient = Self.replayRecipient
        let signed = Self.replaySigned
        guard IsolatedTest.isChild(name) else {
            let dir = try TemporaryDirectory()
            // The measured log, and a small one each child opens first: that faults in the replay's code and the
            // threads and malloc arenas it uses, so the baseline after it holds everything but the index itself.
            for (path, count) in [(dir.path, messages), (dir.path("warm-up"), 512)] {
                let log = try ReceiptLog(directory: path, limits: .default)
                for kind in [Receipt.Kind.accepted, .delivered, .expired] {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in 0..<count {
                            group.addTask {
                                try await log.record(
                                    try signed(kind, i), storeID: UInt64(i + 1), clientMessageID: kind == .accepted ? "client-\(i)" : "",
                                    recipients: kind == .accepted ? [recipient] : [])
                            }
                            if i % 256 == 255 { try await group.waitForAll() }
                        }
                    }
                }
                log.close()
            }
            let cold = try #require(
                try IsolatedTest.runAlone(name, environment: [directoryVariable: dir.path, phaseVariable: "cold"], timeoutSeconds: 75))
            #expect(cold.passed, "\(cold.failure)")
            let coldKept = cold.result.stdout.split(separator: "\n").first { $0.hasPrefix("cold-kept-bytes=") }?.split(separator: "=").last
            let full = try #require(
                try IsolatedTest.runAlone(
                    name,
                    environment: [
                        directoryVariable: dir.path, phaseVariable: "full",
                        coldKeptVariable: coldKept.map(String.init) ?? ""
                    ], timeoutSeconds: 75))
            #expect(full.passed, "\(full.failure)")
            return
        }
        let phase = ProcessInfo.processInfo.environment[phaseVariable]
        _ = try IsolatedTest.runAlone(name)
        let dir = try #require(ProcessInfo.processInfo.environment[directoryVariable].map { URL(fileURLWithPath: $0) })
        let brokerID = Self.replayBrokerID
        let fileBytes = try #require(
            try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("receipts.klog").path)[.size] as? Int)
        #expect(fileBytes > 3 * messages * 1200)

        // Every message is finished (expired for its only recipient). Opened past the dedupe window they all go to
        // the cold index: far smaller, and the slips are rebuilt from their records.
        // Replay demotes every 1024 records here (65,536 by default), so the full entries never pile up.
        let warmUp = dir.appendingPathComponent("warm-up").path
        if phase == "cold" {
            try ReceiptLog(directory: warmUp, limits: .default, demoteBefore: .max, demoteEvery: 1024).close()
            let (cold, kept, peak) = try Self.measured {
                try ReceiptLog(directory: dir.path, limits: .default, demoteBefore: .max, demoteEvery: 1024)
            }
            defer { cold.close() }
            if let kept, let peak {
                print(
                    "receipt log, cold index: \(messages) messages keep \(kept / 1024) KiB (\(kept / messages) B/message), peak growth while replaying \(peak / 1024) KiB"
                )
                print("cold-kept-bytes=\(kept)")
                #expect(kept < messages * 500, "the cold index of \(messages) messages keeps \(kept) bytes")
            }
            let counts = cold.counts
            #expect(counts.messages == messages && counts.cold == messages && counts.receipts == 3 * messages)
            for i in [0, 4_999, messages - 1] {
                let id = try signed(.accepted, i).receipt.messageID
                let slip = try #require(try cold.slip(id))
                #expect(
                    slip.receipts.map(\.encodedBytes)
                        == [try signed(.accepted, i), try signed(.delivered, i), try signed(.expired, i)].map(\.encodedBytes))
                #expect(slip.recipients == [recipient] && slip.clientMessageID == "client-\(i)" && slip.sender == sender)
                #expect(try cold.acceptedReceipt(of: id)?.encodedBytes == (try signed(.accepted, i)).encodedBytes)
                // Past the dedupe window, finished: no dedupe or store-id mapping any more.
                #expect(
                    cold.messageID(sender: sender, clientMessageID: "client-\(i)") == nil && cold.messageID(storeID: UInt64(i + 1)) == nil)
            }
            // A late receipt for a cold message joins its slip once (the duplicate check reads the cold records); a
            // second `delivered` for the same recipient is superseded there too (SPEC.md §7.2).
            func late(_ kind: Receipt.Kind, at ms: UInt64) throws -> SignedReceipt {
                try SignedReceipt(
                    receipt: Receipt(
                        kind: kind, messageID: try signed(.accepted, 7).receipt.messageID,
                        envelopeDigest: try signed(.accepted, 7).receipt.envelopeDigest, sender: sender,
                        recipient: recipient, timestampMillis: ms, brokerID: brokerID,
                        reason: kind == .deadLettered ? .deliveryAttemptsExhausted : nil),
                    brokerSignature: [UInt8](repeating: 0x31, count: 300))
            }
            #expect(
                try await cold.record(try late(.deadLettered, at: 1_795_700_000_000), storeID: 0, clientMessageID: "", recipients: [])
                    == .written)
            #expect(
                try await cold.record(try late(.deadLettered, at: 1_795_700_000_000), storeID: 0, clientMessageID: "", recipients: [])
                    == .alreadyRecorded)
            #expect(try await cold.record(try signed(.delivered, 7), storeID: 0, clientMessageID: "", recipients: []) == .alreadyRecorded)
            #expect(
                try await cold.record(try late(.delivered, at: 1_795_700_000_001), storeID: 0, clientMessageID: "", recipients: [])
                    == .superseded)
            #expect(try cold.slip(try signed(.accepted, 7).receipt.messageID)?.receipts.count == 4)
            return
        }

        #expect(phase == "full")
        let coldKept = ProcessInfo.processInfo.environment[coldKeptVariable].flatMap { Int($0) }
        try ReceiptLog(directory: warmUp, limits: .default).close()
        let (log, hotKept, peak) = try Self.measured { try ReceiptLog(directory: dir.path, limits: .default) }
        defer { log.close() }
        let counts = log.counts
        #expect(counts.messages == messages && counts.cold == 0 && counts.receipts == 3 * messages + 1)
        if let hotKept, let peak {
            print(
                "receipt log replay: \(fileBytes) bytes, \(messages) messages keep \(hotKept / 1024) KiB (\(hotKept / messages) B/message), peak growth \(peak / 1024) KiB"
            )
            #expect(peak < fileBytes / 4, "replaying \(fileBytes) bytes grew RSS by \(peak) bytes")
            if let coldKept { #expect(coldKept < hotKept * 3 / 4, "cold \(coldKept) bytes, full entries \(hotKept) bytes") }
        }
        for i in [0, 4_999, messages - 1] {
            let id = try signed(.accepted, i).receipt.messageID
            #expect(log.messageID(sender: sender, clientMessageID: "client-\(i)") == id)
            #expect(log.messageID(storeID: UInt64(i + 1)) == id)
            let slip = try #require(try log.slip(id))
            #expect(
                slip.receipts.map(\.encodedBytes)
                    == [try signed(.accepted, i), try signed(.delivered, i), try signed(.expired, i)].map(\.encodedBytes))
            #expect(slip.recipients == [recipient] && slip.clientMessageID == "client-\(i)")
        }
        // Half of them past the dedupe window go cold in the compaction run; past the retention all of them go.
        let half = try signed(.accepted, messages / 2).receipt.timestampMillis
        let demoted = try await log.compact(acceptedBefore: 0, demoteBefore: half, minimumReclaimFraction: 0.25)
        #expect(demoted.messagesMadeCold == messages / 2 && !demoted.rewritten && log.counts.cold == messages / 2)
        let report = try await log.compact(acceptedBefore: .max, minimumReclaimFraction: 0.25)
        #expect(report.rewritten && report.messagesRemoved == messages && report.bytesAfter == 0)
        #expect(log.counts.messages == 0)
    }
}

extension ReceiptLogTests {
    static let replayMessages = 10_000
    static let replayBrokerID = try! ParticipantID("broker:klammer-1")
    static let replaySender = try! ParticipantID("ags:13004000"), replayRecipient = try! ParticipantID("ags:09162000")

    /// Receipt `kind` of message `i` in `replayAndIndexStaySmallAgainstTheFile` (the same bytes in the writing parent
    /// and the measuring child).
    @Sendable static func replaySigned(_ kind: Receipt.Kind, _ i: Int) throws -> SignedReceipt {
        var idBytes = [UInt8](repeating: 0, count: 16)
        for k in 0..<8 { idBytes[15 - k] = UInt8(truncatingIfNeeded: i >> (8 * k)) }
        let receipt = try Receipt(
            kind: kind, messageID: MessageID(bytes: idBytes), envelopeDigest: SHA256Digest(bytes: SHA256.hash(idBytes)),
            sender: replaySender, recipient: kind == .accepted ? nil : replayRecipient,
            timestampMillis: 1_795_599_000_000 + UInt64(i), brokerID: replayBrokerID,
            reason: kind == .expired ? .expired : nil)
        // About the size of the broker's real detached CMS (signature plus certificate).
        return try SignedReceipt(
            receipt: receipt, brokerSignature: SHA256.hash(idBytes + [kind.rawValue]) + [UInt8](repeating: 0x30, count: 1200))
    }

    /// Opens a log and returns it with the resident memory it keeps and the peak growth while opening, in bytes.
    /// `malloc_trim` before each reading returns freed heap pages to the system, so memory the allocator merely
    /// keeps (from the write phase, or the transient replay buffers) does not count.
    static func measured(_ open: () throws -> ReceiptLog) rethrows -> (ReceiptLog, kept: Int?, peak: Int?) {
        typealias Trim = @convention(c) (Int) -> Int32
        let trim = dlsym(dlopen(nil, RTLD_NOW), "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }
        _ = trim?(0)
        let before = anonymousResident(), beforeTotal = ProcessMemory.resident()
        _ = ProcessMemory.peak(reset: true)
        let log = try open()
        let peak = ProcessMemory.peak(reset: false)
        _ = trim?(0)
        let after = anonymousResident()
        guard trim != nil, let before, let after, let beforeTotal, let peak else { return (log, nil, nil) }
        return (log, after - before, peak - beforeTotal)
    }

    /// RssAnon of this process in bytes: heap without the code and file pages a first call faults in.
    static func anonymousResident() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("RssAnon:") }),
            let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib * 1024
    }
}
