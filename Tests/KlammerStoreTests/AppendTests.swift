import Foundation
import Testing
@testable import KlammerStore

@Suite struct AppendTests {
    @Test func appendSurvivesRestartAndReportsDurability() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        let r = try await store.append(msg("alice", "1"))
        guard case .stored(let id, .always) = r else { Issue.record("unexpected \(r)"); return }
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        let q = try store.browse(recipient: "bob")
        #expect(q.map(\.messageID) == [id])
        #expect(q.first?.payload == .inline(Array("payload of alice/1".utf8)))
        #expect(q.first?.envelope == Array("env-1".utf8))
        await store.close()
    }

    @Test func batchedDurabilityIsReportedAsSuch() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var c = testConfig(dir)
        c.durability = .batched(maxDelay: .milliseconds(5))
        let store = try await KlammerStore.open(c)
        let r = try await store.append(msg("alice", "1"))
        #expect(r == .stored(messageID: 1, durability: .batched(maxDelay: .milliseconds(5))))
        await store.close()
    }

    @Test func groupCommitSharesFsyncs() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let io = FaultyFileIO()
        var c = testConfig(dir, io: io)
        c.segmentSize = 64 << 20
        let store = try await KlammerStore.open(c)
        let before = io.datasyncCount
        try await withThrowingTaskGroup(of: Void.self) { g in
            for t in 0..<64 {
                g.addTask {
                    for i in 0..<20 { _ = try await store.append(msg("s\(t)", "\(i)")) }
                }
            }
            try await g.waitForAll()
        }
        let syncs = io.datasyncCount - before
        #expect(try store.browse(recipient: "bob", limit: 10_000).count == 1280)
        #expect(syncs < 1280 / 2, "expected group commit, got \(syncs) fdatasyncs for 1280 appends")
        await store.close()
    }

    @Test func dedupeReturnsOriginalOutcomeAcrossRestartsAndConcurrency() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        // Concurrent duplicates while the original is waiting for its fsync: one stored, the rest duplicates.
        let s0 = store
        let results = try await withThrowingTaskGroup(of: AppendResult.self) { g in
            for _ in 0..<8 { g.addTask { try await s0.append(msg("alice", "x")) } }
            return try await g.reduce(into: []) { $0.append($1) }
        }
        let stored = results.filter { if case .stored = $0 { return true } else { return false } }
        #expect(stored.count == 1)
        guard case .stored(let id, _) = stored[0] else { return }
        for r in results where r != stored[0] {
            #expect(r == .duplicate(messageID: id, outcome: Array("receipt-alice-x".utf8)))
        }
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        var again = msg("alice", "x", payload: "different")
        again.outcome = [1, 2, 3]
        #expect(try await store.append(again) == .duplicate(messageID: id, outcome: Array("receipt-alice-x".utf8)))
        #expect(try store.browse(recipient: "bob").count == 1)
        // Same client id from another sender is not a duplicate.
        guard case .stored = try await store.append(msg("carol", "x")) else { Issue.record("carol/x deduped"); return }
        await store.close()
    }

    @Test func limitsAreEnforced() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var c = testConfig(dir)
        c.maxInlinePayload = 100
        c.maxRecipients = 2
        let store = try await KlammerStore.open(c)
        await #expect(throws: StoreError.self) { try await store.append(msg("a", "1", payload: String(repeating: "x", count: 101))) }
        await #expect(throws: StoreError.self) { try await store.append(msg("a", "2", to: ["x", "y", "z"])) }
        await #expect(throws: StoreError.self) { try await store.append(msg("", "3")) }
        await #expect(throws: StoreError.self) { try await store.append(msg(String(repeating: "s", count: 300), "3")) }
        do { _ = try await store.append(msg("a", "4", payload: String(repeating: "x", count: 101))) } catch let e as StoreError {
            #expect(e.code == .tooLarge)
        }
        await store.close()
    }

    @Test func segmentsRollWithHeaderAndFooter() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        for i in 0..<200 { _ = try await store.append(msg("a", "\(i)", payload: String(repeating: "p", count: 300))) }
        await store.close()
        let segs = segmentFiles(dir)
        #expect(segs.count > 3)
        // Names are the first sequence number; each file starts with the magic.
        #expect(segs.first == "seg-00000000000000000001.klog")
        let head = try Data(contentsOf: URL(fileURLWithPath: dir.path + "/log/" + segs[1]))
        #expect(Array(head.prefix(8)) == Array("KLAMSEG1".utf8))
        store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob") == (0..<200).map { "\($0)" })
        #expect(store.recoveryReport.corruptions.isEmpty)
        #expect(try store.scrub().isClean)
        await store.close()
    }

    @Test func formatVersion() {
        #expect(KlammerStoreInfo.formatVersion == 1)
    }
}
