import Foundation
import KlammerBroker
import KlammerCrypto
import KlammerProtocol
import KlammerStore
import Testing

/// Registered certificates are checked against the broker's current CA bundle and CRLs whenever they sign or are
/// listed (SPEC.md §7.1 check 10a, §5.11), not only at registration or in the TLS handshake.
@Suite(.timeLimit(.minutes(1))) struct CertificateStatusTests {
    /// The sender holds certificates A and B; A is revoked and the broker reloads its CRL: the directory no longer lists
    /// A, a message signed with A is refused with CERTIFICATE_REVOKED and a signed rejected receipt, B still works.
    @Test func revokedRegisteredCertificateIsNotListedAndCannotSign() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        // Certificates are issued relative to the real clock; the fixture's clock starts earlier.
        f.clock.time.withLock { $0 = Date() }
        let sender = f.party(BrokerFixture.sender)
        let keyA = try PrivateKey.generate(.p256)
        let certificateA = try f.ca.issue(
            commonName: "A", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.sender)"],
            publicKey: keyA.publicKey, usage: .client)
        _ = try f.registry.addCertificate(certificateA, to: BrokerFixture.sender)
        f.broker.updateTrustStore(TrustStore(anchors: [f.ca.certificate], crls: [try f.ca.makeCRL(revoked: [])]))

        let before = try f.broker.directoryStatement(for: sender.id).statement.certificates
        #expect(before == [sender.certificate.derBytes, certificateA.derBytes])
        let nowMillis = UInt64(Date().timeIntervalSince1970 * 1000)
        let first = try f.envelope(payload: [1, 2, 3], clientID: "signed-with-a-1", createdAtMillis: nowMillis)
        _ = try await f.send(
            first, payload: [1, 2, 3], signature: try CMS.signDetached(first.canonicalBytes, certificate: certificateA, key: keyA))

        // `klammerctl pki revoke` + reload: the new CRL lists A.
        f.broker.updateTrustStore(
            TrustStore(
                anchors: [f.ca.certificate],
                crls: [try f.ca.makeCRL(revoked: [(certificateA.serialNumberHex, Date() - 1)])]))
        #expect(try f.broker.directoryStatement(for: sender.id).statement.certificates == [sender.certificate.derBytes])

        let second = try f.envelope(payload: [4, 5, 6], clientID: "signed-with-a-2", createdAtMillis: nowMillis)
        let submission = try f.begin(second)
        try submission.append([4, 5, 6])
        var refusal: ProtocolError?
        do {
            _ = try await f.broker.finishSubmission(
                submission, signature: try CMS.signDetached(second.canonicalBytes, certificate: certificateA, key: keyA))
        } catch let error as ProtocolError { refusal = error }
        let error = try #require(refusal)
        #expect(error.code == .certificateRevoked && error.code.rawValue == 2008 && error.code.name == "CERTIFICATE_REVOKED")
        #expect(error.message.contains("revoked"), "\(error)")
        let rejected = try #require(
            f.broker.rejectedReceipt(for: second, participant: f.participant(BrokerFixture.sender), refusal: error, atFinish: true))
        #expect(rejected.receipt.kind == .rejected && rejected.receipt.reason == .certificateRevoked)
        try f.verifyBrokerSignature(rejected)

        // B, not revoked, still signs.
        let third = try f.envelope(payload: [7], clientID: "signed-with-b", createdAtMillis: nowMillis)
        #expect(try await f.send(third, payload: [7]).receipt.kind == .accepted)
    }

    /// A recipient's acknowledgement signed with its revoked certificate is refused too (the lease stays).
    @Test func acknowledgementSignedWithARevokedCertificateIsRefused() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        f.clock.time.withLock { $0 = Date() }
        let nowMillis = UInt64(Date().timeIntervalSince1970 * 1000)
        let envelope = try f.envelope(payload: [1], createdAtMillis: nowMillis)
        _ = try await f.send(envelope, payload: [1])
        let b = f.participant(BrokerFixture.b)
        let delivery = try #require(try await f.broker.lease(for: b, consumer: ConsumerID("conn-b"), max: 1).first)
        let revoked = f.party(BrokerFixture.b).certificate
        f.broker.updateTrustStore(
            TrustStore(
                anchors: [f.ca.certificate],
                crls: [try f.ca.makeCRL(revoked: [(revoked.serialNumberHex, Date() - 1)])]))
        let (statement, signature) = try f.acknowledgement(for: delivery, by: BrokerFixture.b)
        await #expect {
            _ = try await f.broker.acknowledge(from: b, consumer: ConsumerID("conn-b"), statement: statement, signature: signature)
        } throws: { ($0 as? ProtocolError)?.code == .certificateRevoked }
    }

    /// A registered certificate that expires is refused with CERTIFICATE_EXPIRED from then on, although its earlier
    /// successful check was cached, and is no longer listed.
    @Test func expiredRegisteredCertificateIsRefusedOnceItExpired() async throws {
        let f = try await BrokerFixture(participants: [BrokerFixture.sender, BrokerFixture.b])
        f.clock.time.withLock { $0 = Date() }
        let key = try PrivateKey.generate(.p256)
        let shortLived = try f.ca.issue(
            commonName: "kurz", subjectAlternativeNames: ["URI:urn:klammer:participant:\(BrokerFixture.sender)"],
            publicKey: key.publicKey, usage: .client, notAfter: Date() + 120)
        _ = try f.registry.addCertificate(shortLived, to: BrokerFixture.sender)
        f.broker.updateTrustStore(TrustStore(anchors: [f.ca.certificate]))
        let first = try f.envelope(payload: [1], clientID: "kurz-1", createdAtMillis: UInt64(Date().timeIntervalSince1970 * 1000))
        _ = try await f.send(first, payload: [1], signature: try CMS.signDetached(first.canonicalBytes, certificate: shortLived, key: key))

        f.clock.advance(180)
        let later = UInt64(f.clock.now().timeIntervalSince1970 * 1000)
        #expect(
            try !f.broker.directoryStatement(for: ParticipantID(BrokerFixture.sender)).statement.certificates.contains(shortLived.derBytes))
        let second = try f.envelope(payload: [2], clientID: "kurz-2", createdAtMillis: later)
        await #expect {
            _ = try await f.send(
                second, payload: [2], signature: try CMS.signDetached(second.canonicalBytes, certificate: shortLived, key: key))
        } throws: { ($0 as? ProtocolError)?.code == .certificateExpired }
    }
}
