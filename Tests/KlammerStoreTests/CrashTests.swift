import Foundation
import Glibc
import Testing
@testable import KlammerStore
import KlammerTestSupport

/// Kills a real appending process with SIGKILL at random moments (appends, segment rolls, compaction, acks), reopens
/// the store and checks its promises. Cycles: `KLAMMER_CRASH_CYCLES` (default 50).
@Suite struct CrashTests {
    static func helperPath() -> String {
        ProcessInfo.processInfo.environment["KLAMMER_CRASHTEST_BIN"] ?? BuiltExecutable.path("klammer-store-crashtest")
    }

    /// Same generator as the helper.
    static func payload(_ sender: String, _ cmid: String) -> [UInt8] {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in (sender + "|" + cmid).utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        let n = 32 + Int(h % 600)
        return (0..<n).map { UInt8(truncatingIfNeeded: h &+ UInt64($0) &* 31) }
    }

    struct Confirmed { var sender: String; var cmid: String; var id: UInt64 }

    /// Parses "c<cycle>-<i>" into a sortable pair.
    static func order(_ cmid: String) -> (Int, Int)? {
        let parts = cmid.dropFirst().split(separator: "-")
        guard cmid.hasPrefix("c"), parts.count == 2, let c = Int(parts[0]), let i = Int(parts[1]) else { return nil }
        return (c, i)
    }

    @Test func killDashNineCycles() async throws {
        let cycles = Int(ProcessInfo.processInfo.environment["KLAMMER_CRASH_CYCLES"] ?? "") ?? 50
        let dir = TempDir(); defer { dir.cleanup() }
        let helper = Self.helperPath()
        #expect(FileManager.default.isExecutableFile(atPath: helper), "crash helper not found at \(helper)")
        var confirmed: [Confirmed] = []
        var acked = Set<UInt64>()
        var rng = SystemRandomNumberGenerator()
        let start = ContinuousClock.now
        var maxSegments = 0
        for cycle in 0..<cycles {
            let outPath = dir.path + ".out"
            _ = FileManager.default.createFile(atPath: outPath, contents: nil)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: helper)
            p.arguments = [dir.path, String(cycle)]
            p.standardOutput = FileHandle(forWritingAtPath: outPath)
            try p.run()
            // Wait until the store is open, then let it run for a random time and kill it.
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if let s = try? String(contentsOfFile: outPath, encoding: .utf8), s.hasPrefix("READY") { break }
                try await Task.sleep(for: .milliseconds(2))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 5...150, using: &rng)))
            kill(p.processIdentifier, SIGKILL)
            // Poll instead of blocking a cooperative thread in waitUntilExit.
            let exitDeadline = ContinuousClock.now + .seconds(20)
            while p.isRunning && ContinuousClock.now < exitDeadline { try await Task.sleep(for: .milliseconds(2)) }
            #expect(!p.isRunning, "helper did not exit after SIGKILL")
            #expect(p.terminationReason == .uncaughtSignal, "helper exited by itself: \(p.terminationStatus)")
            let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n", omittingEmptySubsequences: true)
            where text.hasSuffix("\n") || line != text.split(separator: "\n").last {
                let f = line.split(separator: " ")
                if f.first == "C", f.count == 4, let id = UInt64(f[3]) {
                    confirmed.append(Confirmed(sender: String(f[1]), cmid: String(f[2]), id: id))
                } else if f.first == "A", f.count == 2, let id = UInt64(f[1]) {
                    acked.insert(id)
                }
            }
            maxSegments = max(maxSegments, segmentFiles(dir).count)
            let t0 = ContinuousClock.now
            try await verify(dir: dir, confirmed: confirmed, acked: acked, cycle: cycle, rng: &rng)
            if ProcessInfo.processInfo.environment["KLAMMER_CRASH_VERBOSE"] != nil {
                print("cycle \(cycle): verify \(ContinuousClock.now - t0), total \(ContinuousClock.now - start)")
            }
        }
        let elapsed = ContinuousClock.now - start
        print(
            "crash test: \(cycles) kill -9 cycles, \(confirmed.count) confirmed appends, \(acked.count) acks, "
                + "max \(maxSegments) segments, \(elapsed)")
        #expect(confirmed.count > cycles)
    }

    func verify(
        dir: TempDir, confirmed: [Confirmed], acked: Set<UInt64>, cycle: Int,
        rng: inout SystemRandomNumberGenerator
    ) async throws {
        var c = StoreConfiguration(directory: dir.path)
        c.maintenanceInterval = .zero
        c.segmentSize = 32 << 10
        c.maxAttempts = 1_000_000
        let store = try await KlammerStore.open(c)
        #expect(store.recoveryReport.corruptions.isEmpty, "cycle \(cycle): \(store.recoveryReport.corruptions)")
        // Queue contents from the index; full records (payload check) for new ids and a random sample of old ones.
        let (rIDs, xIDs) = store.cell.m.withLock { s in
            ((s.queues["r"]?.entries.keys).map { Array($0).sorted() } ?? [], Set(s.queues["x"]?.entries.keys.map { $0 } ?? []))
        }
        let byID = Dictionary(confirmed.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let rSet = Set(rIDs)
        let newest = confirmed.last(where: { Self.order($0.cmid)!.0 < cycle })?.id ?? 0
        var check = rIDs.filter { $0 > newest } + xIDs.filter { $0 > newest }
        for _ in 0..<100 where !rIDs.isEmpty { check.append(rIDs.randomElement(using: &rng)!) }
        for _ in 0..<50 where !xIDs.isEmpty { check.append(xIDs.randomElement(using: &rng)!) }
        for id in check {
            let (loc, h) = store.cell.m.withLock { s in (s.messages[id]!.location, s.segments[s.messages[id]!.location.segmentID]!.handle) }
            let m = try store.readMessage(h, loc)
            // Nothing that was never appended; payloads intact.
            #expect(m.sender.hasPrefix("s") && Self.order(m.clientMessageID) != nil)
            #expect(
                m.payload == .inline(Self.payload(m.sender, m.clientMessageID)),
                "cycle \(cycle): altered payload \(m.sender)/\(m.clientMessageID)")
            if let c = byID[id] { #expect(c.sender == m.sender && c.cmid == m.clientMessageID, "cycle \(cycle): id \(id) mismatch") }
        }
        // Every confirmed message bound for "r" is present.
        var missing = 0
        for m in confirmed where Self.order(m.cmid)!.1 % 2 == 0 && !rSet.contains(m.id) { missing += 1 }
        #expect(missing == 0, "cycle \(cycle): \(missing) confirmed messages lost")
        // Acked entries never come back.
        let back = xIDs.intersection(acked)
        #expect(back.isEmpty, "cycle \(cycle): \(back.count) acked messages redelivered")
        // FIFO per sender in delivery order (ascending id), no second copy of a message.
        var last: [String: (Int, Int)] = [:]
        for id in rIDs {
            guard let c = byID[id] else { continue }
            let o = Self.order(c.cmid)!
            if let l = last[c.sender] { #expect(l < o, "cycle \(cycle): FIFO broken for \(c.sender): \(l) then \(o)") }
            last[c.sender] = o
        }
        // Delivery through lease follows the same order (lease a few and release them again).
        let leased = try await store.lease(recipient: "r", consumer: ConsumerID("verify"), max: 20, visibility: .seconds(60))
        #expect(leased.map(\.messageID) == Array(rIDs.prefix(20)))
        store.releaseLeases(consumer: ConsumerID("verify"))
        // Dedupe still answers with the original outcome (sample).
        for _ in 0..<min(5, confirmed.count) {
            let m = confirmed.randomElement(using: &rng)!
            let again = MessageRecord(
                sender: m.sender, clientMessageID: m.cmid, recipients: ["r"], envelope: [],
                payload: .inline([1]), outcome: [9])
            let res = try await store.append(again)
            #expect(
                res == .duplicate(messageID: m.id, outcome: Array("ok \(m.sender) \(m.cmid)".utf8)),
                "cycle \(cycle): dedupe failed for \(m.sender)/\(m.cmid): \(res)")
        }
        await store.close()
    }
}
