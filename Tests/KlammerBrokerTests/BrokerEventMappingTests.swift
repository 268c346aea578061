import Testing
@testable import KlammerBroker
import KlammerProtocol
import KlammerStore
import KlammerTestSupport

@Suite(.timeLimit(.minutes(2))) struct BrokerEventMappingTests {
    /// Store events may carry empty sender fields; the store message id alone must find the message (also after restart).
    @Test func eventWithoutSenderFieldsStillBecomesReceipt() async throws {
        let f = try await BrokerFixture()
        let payload = payloadBytes(10)
        let accepted = try await f.send(try f.envelope(payload: payload), payload: payload)
        try await f.restart()
        let storeID = try #require(try f.store.browse(recipient: BrokerFixture.b).first?.messageID)
        try await f.broker.handle(
            .deadLettered(messageID: storeID, recipient: BrokerFixture.b, sender: "", clientMessageID: "", attempts: 10))
        let slip = try f.broker.routingSlip(of: accepted.receipt.messageID, requester: f.party(BrokerFixture.sender).id)
        #expect(slip.map(\.receipt.kind) == [.accepted, .deadLettered])
        #expect(slip.last?.receipt.sender == accepted.receipt.sender)
        try f.verifyBrokerSignature(try #require(slip.last))
    }
}
