import Foundation
import Testing
@testable import KlammerStore

@Suite struct DeliveryTests {
    let consumer = ConsumerID("c1")

    @Test func ackedMessageNeverComesBackAfterRestart() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        for i in 0..<3 { _ = try await store.append(msg("a", "\(i)")) }
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 2, visibility: .seconds(30))
        #expect(d.map(\.clientMessageID) == ["0", "1"])
        #expect(d.map(\.attempt) == [1, 1])
        try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        // Unacked in-flight message is deliverable again after restart, with its attempt counter kept.
        let d2 = try await store.lease(recipient: "bob", consumer: consumer, max: 10, visibility: .seconds(30))
        #expect(d2.map(\.clientMessageID) == ["1", "2"])
        #expect(d2.map(\.attempt) == [2, 1])
        await store.close()
    }

    @Test func staleTokenAndDoubleAckAreRejected() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let store = try await KlammerStore.open(testConfig(dir))
        _ = try await store.append(msg("a", "0"))
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 1, visibility: .seconds(30))
        await #expect(throws: StoreError.self) { try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: 999) }
        try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        await #expect(throws: StoreError.self) {
            try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        }
        await store.close()
    }

    @Test func visibilityTimeoutRedeliversWithCounter() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        let store = try await KlammerStore.open(testConfig(dir, clock: clock))
        _ = try await store.append(msg("a", "0"))
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 1, visibility: .seconds(10))
        #expect(try await store.lease(recipient: "bob", consumer: consumer, max: 1, visibility: .seconds(10)).isEmpty)
        clock.advance(11)
        await store.runMaintenance()
        let d2 = try await store.lease(recipient: "bob", consumer: ConsumerID("c2"), max: 1, visibility: .seconds(10))
        #expect(d2.first?.messageID == d[0].messageID)
        #expect(d2.first?.attempt == 2)
        // The old lease is gone.
        await #expect(throws: StoreError.self) {
            try await store.ack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        }
        try await store.ack(recipient: "bob", messageID: d2[0].messageID, leaseToken: d2[0].leaseToken)
        await store.close()
    }

    @Test func nackWithDelayAndDisconnect() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        let store = try await KlammerStore.open(testConfig(dir, clock: clock))
        _ = try await store.append(msg("a", "0"))
        _ = try await store.append(msg("a", "1"))
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 2, visibility: .seconds(60))
        try store.nack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken, delay: .seconds(5))
        #expect(try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(60)).isEmpty)
        clock.advance(6)
        await store.runMaintenance()
        let again = try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(60))
        #expect(again.map(\.clientMessageID) == ["0"])
        store.releaseLeases(consumer: consumer)
        let afterDisconnect = try await store.lease(recipient: "bob", consumer: ConsumerID("c2"), max: 5, visibility: .seconds(60))
        #expect(afterDisconnect.map(\.clientMessageID) == ["0", "1"])
        #expect(afterDisconnect.map(\.attempt) == [3, 2])
        await store.close()
    }

    @Test func deadLetterAfterMaxAttemptsThenReplayAndPurgeSurviveRestart() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var c = testConfig(dir)
        c.maxAttempts = 3
        var store = try await KlammerStore.open(c)
        _ = try await store.append(msg("a", "poison"))
        _ = try await store.append(msg("a", "fine"))
        for round in 0..<3 {
            let d = try await store.lease(recipient: "bob", consumer: consumer, max: 1, visibility: .seconds(60))
            #expect(d.first?.clientMessageID == "poison")
            #expect(d.first?.attempt == round + 1)
            try store.nack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
            if round == 1 {  // restart in between: attempts are durable
                await store.close()
                store = try await KlammerStore.open(c)
            }
        }
        let ev = await nextEvent(store)
        guard case .deadLettered(_, "bob", "a", "poison", 3) = ev else { Issue.record("got \(String(describing: ev))"); return }
        let next = try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(60))
        #expect(next.map(\.clientMessageID) == ["fine"])
        #expect(try store.deadLetters(recipient: "bob").map(\.clientMessageID) == ["poison"])
        await store.close()
        store = try await KlammerStore.open(c)
        let dlq = try store.deadLetters(recipient: "bob")
        #expect(dlq.map(\.clientMessageID) == ["poison"])
        try await store.replayDeadLetter(recipient: "bob", messageID: dlq[0].messageID)
        await store.close()
        store = try await KlammerStore.open(c)
        #expect(try store.deadLetters(recipient: "bob").isEmpty)
        let replayed = try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(60))
        // FIFO: the replayed message is older than "fine"; its counter was reset.
        #expect(replayed.map(\.clientMessageID) == ["poison", "fine"])
        #expect(replayed.map(\.attempt) == [1, 2])
        for d in replayed { try store.nack(recipient: "bob", messageID: d.messageID, leaseToken: d.leaseToken) }
        // Dead-letter it again quickly, then purge.
        var dl: [QueuedMessage] = []
        for _ in 0..<5 {
            let d = try await store.lease(recipient: "bob", consumer: consumer, max: 1, visibility: .seconds(60))
            if let x = d.first(where: { $0.clientMessageID == "poison" }) {
                try store.nack(recipient: "bob", messageID: x.messageID, leaseToken: x.leaseToken)
            }
            dl = try store.deadLetters(recipient: "bob")
            if !dl.isEmpty { break }
        }
        #expect(dl.count == 1)
        try await store.purgeDeadLetter(recipient: "bob", messageID: dl[0].messageID)
        await store.close()
        store = try await KlammerStore.open(c)
        #expect(try store.deadLetters(recipient: "bob").isEmpty)
        #expect(try store.browse(recipient: "bob").map(\.clientMessageID) == ["fine"])
        await store.close()
    }

    @Test func expiryEmitsEventIndependentOfQueuePositionAndSurvivesRestart() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        var store = try await KlammerStore.open(testConfig(dir, clock: clock))
        _ = try await store.append(msg("a", "long", expiresAt: clock.now().addingTimeInterval(3600)))
        _ = try await store.append(msg("a", "short", expiresAt: clock.now().addingTimeInterval(10)))
        clock.advance(11)
        await store.runMaintenance()
        let ev = await nextEvent(store)
        guard case .expired(_, "bob", "a", "short") = ev else { Issue.record("got \(String(describing: ev))"); return }
        #expect(try store.ids("bob") == ["long"])
        await store.close()
        store = try await KlammerStore.open(testConfig(dir, clock: clock))
        #expect(try store.ids("bob") == ["long"])
        // Default TTL applies when the message has none; lease skips expired entries even without maintenance.
        _ = try await store.append(msg("a", "default"))
        clock.advance(7 * 24 * 3600 + 1)
        #expect(try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(1)).isEmpty)
        await store.close()
    }

    @Test func fifoPerSenderAndFanOut() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var store = try await KlammerStore.open(testConfig(dir))
        for i in 0..<20 {
            _ = try await store.append(msg(i % 2 == 0 ? "a" : "b", "\(i)", to: ["bob", "carol", "dave"]))
        }
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(60))
        // nack the first: it must come before later messages again
        try store.nack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken)
        for x in d.dropFirst() { try await store.ack(recipient: "bob", messageID: x.messageID, leaseToken: x.leaseToken) }
        let all = try await store.lease(recipient: "bob", consumer: consumer, max: 100, visibility: .seconds(60))
        #expect(all.map(\.clientMessageID) == ["0"] + (5..<20).map { "\($0)" })
        for x in all { try await store.ack(recipient: "bob", messageID: x.messageID, leaseToken: x.leaseToken) }
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob").isEmpty)
        #expect(try store.ids("carol") == (0..<20).map { "\($0)" })
        #expect(try store.ids("dave").count == 20)
        await store.close()
    }
}

@Suite struct BackgroundMaintenanceTests {
    @Test func backgroundTaskRedeliversAndExpiresWithoutManualCalls() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        var c = testConfig(dir)
        c.maintenanceInterval = .milliseconds(10)
        let store = try await KlammerStore.open(c)
        _ = try await store.append(msg("a", "0"))
        _ = try await store.append(msg("a", "1", expiresAt: Date().addingTimeInterval(0.05)))
        let d = try await store.lease(recipient: "bob", consumer: ConsumerID("c"), max: 1, visibility: .milliseconds(30))
        #expect(d.map(\.clientMessageID) == ["0"])
        let ev = await nextEvent(store)
        guard case .expired(_, "bob", "a", "1") = ev else { Issue.record("got \(String(describing: ev))"); return }
        var again: [Delivery] = []
        for _ in 0..<100 where again.isEmpty {
            try await Task.sleep(for: .milliseconds(10))
            again = try await store.lease(recipient: "bob", consumer: ConsumerID("c2"), max: 5, visibility: .seconds(30))
        }
        #expect(again.map(\.clientMessageID) == ["0"])
        #expect(again.first?.attempt == 2)
        await store.close()
    }

    @Test func batchedDurabilitySyncsWithinTheDelay() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let io = FaultyFileIO()
        var c = testConfig(dir, io: io)
        c.durability = .batched(maxDelay: .milliseconds(20))
        var store = try await KlammerStore.open(c)
        let before = io.datasyncCount
        for i in 0..<50 { _ = try await store.append(msg("a", "\(i)")) }
        // Confirmed before they are synced: fewer fdatasyncs than appends so far. Then the event, not a guessed pause:
        // without another append the delay timer syncs them (bounded wait, 20 s for a 20 ms delay on a loaded machine).
        let confirmed = io.datasyncCount - before
        #expect(confirmed < 50, "\(confirmed) fdatasyncs for 50 batched appends")
        let synced = await io.waitForDatasyncs(moreThan: before, timeout: .seconds(20))
        #expect(synced, "no fdatasync within 20 s of 50 batched appends (maxDelay 20 ms)")
        await store.close()
        store = try await KlammerStore.open(testConfig(dir))
        #expect(try store.ids("bob").count == 50)
        await store.close()
    }
}
