import Foundation
import Testing
@testable import KlammerStore

@Suite struct CompactionTests {
    @Test func ackedSpaceIsReclaimedAndLiveDataAndDedupeSurvive() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        let consumer = ConsumerID("c")
        for i in 0..<400 {
            _ = try await store.append(
                msg(
                    "a", "\(i)", to: i % 10 == 0 ? ["keep"] : ["bob"],
                    payload: String(repeating: "x", count: 400)))
        }
        let before = segmentFiles(dir).count
        while true {
            let d = try await store.lease(recipient: "bob", consumer: consumer, max: 50, visibility: .seconds(60))
            if d.isEmpty { break }
            for x in d { try await store.ack(recipient: "bob", messageID: x.messageID, leaseToken: x.leaseToken) }
        }
        var reclaimed = 0
        while try await store.compactOnce() { reclaimed += 1 }
        #expect(reclaimed > 0)
        let after = segmentFiles(dir).count
        #expect(after < before / 2, "segments before \(before) after \(after)")
        #expect(try store.ids("keep") == stride(from: 0, to: 400, by: 10).map { "\($0)" })
        // Dedupe of an acked, compacted message still returns the original outcome.
        #expect(try await store.append(msg("a", "1")) == .duplicate(messageID: 2, outcome: Array("receipt-a-1".utf8)))
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(store.recoveryReport.corruptions.isEmpty)
        #expect(try store.ids("keep") == stride(from: 0, to: 400, by: 10).map { "\($0)" })
        #expect(try store.ids("bob").isEmpty)
        #expect(try await store.append(msg("a", "1")) == .duplicate(messageID: 2, outcome: Array("receipt-a-1".utf8)))
        #expect(try await store.append(msg("a", "10")) == .duplicate(messageID: 11, outcome: Array("receipt-a-10".utf8)))
        #expect(try store.scrub().isClean)
        await store.close()
    }

    @Test func dedupeEntriesBeyondTheWindowAreDropped() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        var c = testConfig(dir, clock: clock)
        c.dedupeWindow = .seconds(60)
        let store = try await KlammerStore.open(c)
        for i in 0..<100 { _ = try await store.append(msg("a", "\(i)", payload: String(repeating: "x", count: 400))) }
        let d = try await store.lease(recipient: "bob", consumer: ConsumerID("c"), max: 100, visibility: .seconds(60))
        for x in d { try await store.ack(recipient: "bob", messageID: x.messageID, leaseToken: x.leaseToken) }
        clock.advance(61)
        while try await store.compactOnce() {}
        guard case .stored = try await store.append(msg("a", "1")) else { Issue.record("dedupe outlived its window"); return }
        await store.close()
    }
}
