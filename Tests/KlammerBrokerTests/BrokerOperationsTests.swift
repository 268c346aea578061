import Foundation
import KlammerBroker
import KlammerProtocol
import KlammerStore
import KlammerTestSupport
import Testing

/// The operator's queue operations on the broker core: peek, dead letters and replay, purge, trace.
@Suite struct BrokerOperationsTests {
    @Test func deadLettersAreListedReplayedAndPurged() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        let messageID = accepted.receipt.messageID
        let b = f.participant(BrokerFixture.b)
        #expect(try f.broker.peek(queue: BrokerFixture.b, limit: 10).map(\.messageId) == [messageID.hex])

        // Lease and NACK until the store dead-letters it (bounded by the attempt limit).
        var rounds = 0
        while rounds < 50, let delivery = try await f.broker.lease(for: b, consumer: ConsumerID("c"), max: 1).first {
            try f.broker.nack(from: b, consumer: ConsumerID("c"), messageID: delivery.messageID)
            rounds += 1
        }
        #expect(rounds == 10)
        let dead = try f.broker.peek(queue: BrokerFixture.b, limit: 10, deadLettered: true)
        #expect(dead.map(\.messageId) == [messageID.hex] && dead[0].state == "dead_lettered" && dead[0].attempts == 10)
        #expect(f.broker.queueStatistics().first { $0.recipient == BrokerFixture.b }?.deadLettered == 1)

        // An unknown id is refused; replaying all brings it back with the attempts reset.
        await #expect(throws: ProtocolError.self) {
            _ = try await f.broker.replayDeadLetters(queue: BrokerFixture.b, messageIDs: [MessageID.random()])
        }
        let replayed = try await f.broker.replayDeadLetters(queue: BrokerFixture.b, messageIDs: nil)
        #expect(replayed.messageIds == [messageID.hex])
        let again = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("d"), max: 1).first)
        #expect(again.attempt == 1)

        // Purge leaves the in-flight message alone; once it is back, purge deletes it.
        let skipped = try await f.broker.purge(queue: BrokerFixture.b, messageIDs: nil)
        #expect(skipped.messageIds.isEmpty && skipped.skippedInFlight == 1)
        f.broker.disconnected(consumer: ConsumerID("d"))
        let purged = try await f.broker.purge(queue: BrokerFixture.b, messageIDs: nil)
        #expect(purged.messageIds == [messageID.hex])
        #expect(f.broker.queueStatistics().allSatisfy { $0.total == 0 })
        #expect(try f.store.browse(recipient: BrokerFixture.b).isEmpty && f.store.deadLetters(recipient: BrokerFixture.b).isEmpty)

        // The trace keeps the routing slip.
        let trace = try #require(try f.broker.trace(messageID))
        #expect(trace.sender == BrokerFixture.sender && trace.recipients == [BrokerFixture.b])
        #expect(trace.receipts.first?.kind == "\(Receipt.Kind.accepted)")
        #expect(try f.broker.trace(MessageID.random()) == nil)
    }

    @Test func purgeSurvivesARestart() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(100)
        _ = try await f.send(try f.envelope(payload: payload), payload: payload)
        _ = try await f.broker.purge(queue: BrokerFixture.b, messageIDs: nil)
        try await f.restart()
        #expect(f.broker.queueStatistics().allSatisfy { $0.total == 0 })
        #expect(try f.store.browse(recipient: BrokerFixture.b).isEmpty && f.store.deadLetters(recipient: BrokerFixture.b).isEmpty)
    }
}
