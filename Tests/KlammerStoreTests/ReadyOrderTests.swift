import Foundation
import Testing
@testable import KlammerStore

/// Delivery order and the FETCH "more available" peek when returned entries (delayed NACKs, expired leases,
/// disconnects) mix with fresh ones.
@Suite struct ReadyOrderTests {
    let consumer = ConsumerID("c1")

    @Test func orderWithDelayedNacksAndExpiredLeasesMixed() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        let store = try await KlammerStore.open(testConfig(dir, clock: clock))
        for i in 0..<5 { _ = try await store.append(msg("a", "\(i)")) }
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 5, visibility: .seconds(10))
        #expect(d.map(\.clientMessageID) == ["0", "1", "2", "3", "4"])
        try store.nack(recipient: "bob", messageID: d[1].messageID, leaseToken: d[1].leaseToken, delay: .seconds(5))
        try store.nack(recipient: "bob", messageID: d[3].messageID, leaseToken: d[3].leaseToken, delay: .seconds(20))
        _ = try await store.append(msg("a", "5"))
        clock.advance(11)  // leases of 0, 2, 4 time out; the NACK delay of 1 is over, that of 3 is not
        await store.runMaintenance()
        let again = try await store.lease(recipient: "bob", consumer: consumer, max: 10, visibility: .seconds(60))
        #expect(again.map(\.clientMessageID) == ["0", "1", "2", "4", "5"])
        #expect(again.map(\.attempt) == [2, 2, 2, 2, 1])
        #expect(!store.hasReady(recipient: "bob"))
        clock.advance(10)
        await store.runMaintenance()
        #expect(store.hasReady(recipient: "bob"))
        let three = try await store.lease(recipient: "bob", consumer: consumer, max: 10, visibility: .seconds(60))
        #expect(three.map(\.clientMessageID) == ["3"])
        store.releaseLeases(consumer: consumer)
        let all = try await store.lease(recipient: "bob", consumer: ConsumerID("c2"), max: 10, visibility: .seconds(60))
        #expect(all.map(\.clientMessageID) == ["0", "1", "2", "3", "4", "5"])
        await store.close()
    }

    @Test func hasReadyIgnoresInFlightDelayedAndUnknown() async throws {
        let dir = TempDir(); defer { dir.cleanup() }
        let clock = TestClock()
        let store = try await KlammerStore.open(testConfig(dir, clock: clock))
        #expect(!store.hasReady(recipient: "bob"))
        _ = try await store.append(msg("a", "0"))
        _ = try await store.append(msg("a", "1"))
        #expect(store.hasReady(recipient: "bob"))
        let d = try await store.lease(recipient: "bob", consumer: consumer, max: 2, visibility: .seconds(60))
        #expect(!store.hasReady(recipient: "bob"))
        try store.nack(recipient: "bob", messageID: d[0].messageID, leaseToken: d[0].leaseToken, delay: .seconds(5))
        #expect(!store.hasReady(recipient: "bob"))  // delayed is not leasable now: a client would FETCH in vain
        try store.nack(recipient: "bob", messageID: d[1].messageID, leaseToken: d[1].leaseToken)
        #expect(store.hasReady(recipient: "bob"))
        await store.close()
    }
}
