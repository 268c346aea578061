import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import Testing

/// `Broker.directoryStatement(for:)` (SPEC.md §5.11): which certificates are listed, TTL, refusals, the signature.
@Suite struct BrokerDirectoryTests {
    @Test func listsValidEncryptionCertificatesSignedWithTheReceiptKey() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        // Certificates are issued relative to the real clock; the fixture's clock starts earlier.
        f.clock.time.withLock { $0 = Date() }
        let b = f.party(BrokerFixture.b)
        // A second certificate that has already expired, and an RSA one: only valid ones are listed, in order.
        let expiredKey = try PrivateKey.generate(.p256)
        let expired = try f.ca.issue(
            commonName: "abgelaufen", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.b)"],
            publicKey: expiredKey.publicKey, usage: .client, notBefore: Date() - 7200, notAfter: Date() - 3600)
        _ = try f.registry.addCertificate(expired, to: BrokerFixture.b)
        let rsaKey = try PrivateKey.generate(.rsa(bits: 3072))
        let rsa = try f.ca.issue(
            commonName: "RSA", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.b)"],
            publicKey: rsaKey.publicKey, usage: .client)
        _ = try f.registry.addCertificate(rsa, to: BrokerFixture.b)

        let (statement, signature) = try f.broker.directoryStatement(for: b.id)
        #expect(statement.participant == b.id)
        #expect(statement.broker.rawValue == "broker:klammer-1")
        #expect(statement.certificates == [b.certificate.derBytes, rsa.derBytes])
        #expect(statement.validUntilMillis - statement.issuedAtMillis == 3_600_000)
        try CMS.verifyDetached(signature: signature, content: statement.canonicalBytes, signer: f.brokerCertificate)
        #expect(try DirectoryStatement(parsingCanonical: statement.canonicalBytes) == statement)
    }

    @Test func suspendedAndRevokedGetAnEmptyListUnknownIsRefused() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b, BrokerFixture.c])
        f.clock.time.withLock { $0 = Date() }
        _ = try f.registry.setStatus(.suspended, of: BrokerFixture.b)
        _ = try f.registry.setStatus(.revoked, of: BrokerFixture.c)
        #expect(try f.broker.directoryStatement(for: ParticipantID(BrokerFixture.b)).statement.certificates.isEmpty)
        #expect(try f.broker.directoryStatement(for: ParticipantID(BrokerFixture.c)).statement.certificates.isEmpty)
        #expect(try !f.broker.directoryStatement(for: ParticipantID(BrokerFixture.sender)).statement.certificates.isEmpty)
        do {
            _ = try f.broker.directoryStatement(for: ParticipantID("ags:99999999"))
            Issue.record("an unknown participant was answered")
        } catch let error as ProtocolError {
            #expect(error.code == .unknownParticipant)
        }
    }
}
