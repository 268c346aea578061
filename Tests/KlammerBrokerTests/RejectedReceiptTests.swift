import Foundation
import Testing
import KlammerBroker
import KlammerCrypto
import KlammerProtocol

/// Signed `rejected` receipts (SPEC.md §7.5): fields, which codes earn one, and the signing budget.
@Suite(.timeLimit(.minutes(1))) struct RejectedReceiptTests {
    @Test func unknownRecipientReceiptNamesTheRecipientAndVerifies() async throws {
        let f = try await BrokerFixture()
        let envelope = try f.envelope(to: [BrokerFixture.b, "ags:99999999"], payload: [1, 2, 3])
        let sender = f.participant(BrokerFixture.sender)
        var refusal: ProtocolError?
        do { _ = try f.broker.beginSubmission(from: sender, envelopeBytes: envelope.canonicalBytes) } catch let e as ProtocolError {
            refusal = e
        }
        let error = try #require(refusal)
        #expect(error.code == .unknownRecipient)
        let signed = try #require(f.broker.rejectedReceipt(forEnvelopeBytes: envelope.canonicalBytes, participant: sender, refusal: error))
        let r = signed.receipt
        #expect(r.kind == .rejected && r.reason == .unknownRecipient && r.reason?.rawValue == 2007)
        #expect(r.recipient?.rawValue == "ags:99999999")
        #expect(r.messageID == Broker.rejectedMessageID && r.messageID.bytes == [UInt8](repeating: 0, count: 16))
        #expect(r.envelopeDigest.bytes == SHA256.hash(envelope.canonicalBytes))
        #expect(r.sender.rawValue == BrokerFixture.sender && r.brokerID.rawValue == "broker:klammer-1")
        try f.verifyBrokerSignature(signed)
        // The wire container round-trips.
        #expect(try SignedReceipt(parsing: signed.encodedBytes, limits: .default) == signed)
    }

    @Test func notPermittedNamesTheForbiddenRecipientAndImpersonationNamesTheSubmitter() async throws {
        let f = try await BrokerFixture()
        _ = try f.registry.setPolicy(try RoutingPolicy(allow: ["ags:09*"]), of: BrokerFixture.sender)
        let sender = f.participant(BrokerFixture.sender)
        let envelope = try f.envelope(to: [BrokerFixture.b, BrokerFixture.c], payload: [1])
        let notPermitted = f.broker.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(.notPermitted, "x"))
        #expect(notPermitted?.receipt.recipient?.rawValue == BrokerFixture.c && notPermitted?.receipt.reason == .notPermitted)

        let impersonating = try f.envelope(from: BrokerFixture.b, to: [BrokerFixture.c], payload: [1])
        let receipt = f.broker.rejectedReceipt(for: impersonating, participant: sender, refusal: ProtocolError(.impersonation, "x"))
        #expect(receipt?.receipt.sender.rawValue == BrokerFixture.sender && receipt?.receipt.recipient == nil)
    }

    @Test func onlyRequestRefusalsAfterTheEnvelopeParsedEarnAReceipt() async throws {
        let f = try await BrokerFixture()
        let sender = f.participant(BrokerFixture.sender)
        let envelope = try f.envelope(payload: [1])
        for code in [ErrorCode.signatureInvalid, .digestMismatch, .certificateNotRegistered, .lengthMismatch, .signatureMissing] {
            #expect(f.broker.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(code, "x"))?.receipt.reason == code)
        }
        for code in [
            ErrorCode.storageFull, .internalError, .rateLimited, .unexpectedFrame, .unknownRequest, .malformedFrame, .participantSuspended
        ] {
            #expect(f.broker.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(code, "x")) == nil, "\(code)")
        }
        // Check 7 (SEND_END) may refuse the participant itself; check 1 (SEND_BEGIN) never earns a receipt.
        #expect(
            f.broker.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(.participantSuspended, "x"), atFinish: true)
                != nil)
        #expect(
            f.broker.rejectedReceipt(
                forEnvelopeBytes: envelope.canonicalBytes, participant: sender, refusal: ProtocolError(.participantSuspended, "x")) == nil)
        // Bytes that do not parse (check 2) earn none.
        #expect(
            f.broker.rejectedReceipt(forEnvelopeBytes: [1, 2, 3], participant: sender, refusal: ProtocolError(.invalidEnvelope, "x")) == nil
        )
    }

    @Test func signingIsBoundedByTheBudget() async throws {
        let f = try await BrokerFixture()
        var configuration = f.broker.configuration
        configuration.rejectedReceiptsPerSecond = 1  // burst 2, then one per second
        configuration.directory = f.dir.file("broker-budget")
        let broker = try Broker(configuration: configuration, registry: f.registry, store: f.store)
        defer { broker.close() }
        let sender = f.participant(BrokerFixture.sender)
        let envelope = try f.envelope(payload: [1])
        let issued = (0..<5).compactMap { _ in
            broker.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(.signatureInvalid, "x"))
        }
        #expect(issued.count == 2)
        configuration.rejectedReceiptsPerSecond = 0
        configuration.directory = f.dir.file("broker-none")
        let none = try Broker(configuration: configuration, registry: f.registry, store: f.store)
        defer { none.close() }
        #expect(none.rejectedReceipt(for: envelope, participant: sender, refusal: ProtocolError(.signatureInvalid, "x")) == nil)
    }
}
