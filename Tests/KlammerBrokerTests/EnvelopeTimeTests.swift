import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import Testing

/// `created at` and the time to live are bounded against the broker clock (SPEC.md §7.1 check 5a): refused with
/// TIME_OUT_OF_RANGE and a signed rejected receipt, before any payload byte is accepted.
@Suite(.timeLimit(.minutes(1))) struct EnvelopeTimeTests {
    static func refusal(_ f: BrokerFixture, _ envelope: Envelope) throws -> ProtocolError? {
        do {
            _ = try f.broker.beginSubmission(from: f.participant(BrokerFixture.sender), envelopeBytes: envelope.canonicalBytes)
            return nil
        } catch let error as ProtocolError {
            return error
        }
    }

    @Test func createdIn1970Or2100AndTTLOf2To32AreRefused() async throws {
        let f = try await BrokerFixture()
        let now = UInt64(f.clock.now().timeIntervalSince1970 * 1000)
        let cases: [(String, Envelope, String)] = [
            ("1970", try f.envelope(payload: [1], clientID: "t-1970", createdAtMillis: 1), "before the broker clock"),
            ("2100", try f.envelope(payload: [1], clientID: "t-2100", createdAtMillis: 4_102_444_800_000), "ahead of the broker clock"),
            ("ttl", try f.envelope(payload: [1], clientID: "t-ttl", ttl: UInt32.max), "time to live of 4294967295 s"),
            (
                "6 minutes ahead", try f.envelope(payload: [1], clientID: "t-skew", createdAtMillis: now + 360_000),
                "ahead of the broker clock"
            ),
            (
                "8 days old", try f.envelope(payload: [1], clientID: "t-old", createdAtMillis: now - 8 * 86_400_000),
                "before the broker clock"
            )
        ]
        for (name, envelope, words) in cases {
            let error = try #require(try Self.refusal(f, envelope), "\(name) was accepted")
            #expect(error.code == .timeOutOfRange && error.code.rawValue == 3015, "\(name): \(error)")
            #expect(error.message.contains(words), "\(name): \(error.message)")
            let receipt = try #require(
                f.broker.rejectedReceipt(for: envelope, participant: f.participant(BrokerFixture.sender), refusal: error))
            #expect(receipt.receipt.reason == .timeOutOfRange)
        }
        #expect(try f.storeIsEmpty())
    }

    @Test func timesInsideTheBoundsAreAccepted() async throws {
        let f = try await BrokerFixture()
        let now = UInt64(f.clock.now().timeIntervalSince1970 * 1000)
        for (i, created) in [now + 240_000, now - 6 * 86_400_000, now].enumerated() {
            let envelope = try f.envelope(
                payload: [UInt8(i)], clientID: "ok-\(i)", ttl: i == 2 ? 90 * 86_400 : nil, createdAtMillis: created)
            #expect(try await f.send(envelope, payload: [UInt8(i)]).receipt.kind == .accepted)
        }
    }

    @Test func boundsAreConfigurableAndValidated() throws {
        let key = try PrivateKey.generate(.p256)
        let ca = try CertificateAuthority.create(commonName: "Bounds CA")
        let certificate = try ca.issue(commonName: "b", publicKey: key.publicKey, usage: .server)
        var config = try BrokerConfiguration(
            brokerID: ParticipantID("broker:klammer-1"), certificate: certificate, key: key, directory: "/tmp/unused")
        #expect(
            config.maxClockSkew == .seconds(300) && config.maxEnvelopeAge == .seconds(7 * 86400)
                && config.maxTimeToLive == .seconds(90 * 86400))
        try config.validate()
        config.maxTimeToLive = .seconds(Int64(UInt32.max) + 1)
        #expect(throws: (any Error).self) { try config.validate() }
        config.maxTimeToLive = .seconds(3600)
        config.maxEnvelopeAge = .seconds(1)
        #expect(throws: (any Error).self) { try config.validate() }
    }
}
