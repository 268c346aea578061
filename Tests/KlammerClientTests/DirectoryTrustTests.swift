import Foundation
import KlammerClient
import KlammerCrypto
import KlammerProtocol
import Testing

/// The client checks every certificate of a broker-signed directory answer itself (SPEC.md §5.11, §13.3): the broker's
/// signature alone does not make a certificate safe to encrypt to.
@Suite struct DirectoryTrustTests {
    static let rostock = try! ParticipantID("ags:13003000")

    struct World {
        let ca: CertificateAuthority
        let brokerCertificate: Certificate
        let brokerKey: PrivateKey

        init() throws {
            ca = try CertificateAuthority.create(commonName: "Directory Test CA", keyKind: .p256)
            brokerKey = try PrivateKey.generate(.p256)
            brokerCertificate = try ca.issue(
                commonName: "broker", subjectAlternativeNames: ["DNS:localhost"],
                publicKey: brokerKey.publicKey, usage: .server)
        }

        func participantCertificate(
            of authority: CertificateAuthority? = nil, notBefore: Date = .now - 300,
            notAfter: Date = .now + 86400
        ) throws -> Certificate {
            try (authority ?? ca).issue(
                commonName: "Rostock", subjectAlternativeNames: ["URI:urn:klammer:participant:\(DirectoryTrustTests.rostock)"],
                publicKey: try PrivateKey.generate(.p256).publicKey, usage: .client,
                notBefore: notBefore, notAfter: notAfter)
        }

        /// A statement listing `certificates`, signed with the broker key (what a broker — or a thief of its key — sends).
        func signedStatement(_ certificates: [Certificate]) throws -> (DirectoryStatement, [UInt8]) {
            let now = UInt64(Date().timeIntervalSince1970 * 1000)
            let statement = try DirectoryStatement(
                participant: DirectoryTrustTests.rostock, issuedAtMillis: now, validUntilMillis: now + 3_600_000,
                broker: try ParticipantID("broker:klammer-1"), certificates: certificates.map(\.derBytes))
            return (statement, try CMS.signDetached(statement.canonicalBytes, certificate: brokerCertificate, key: brokerKey))
        }
    }

    /// A correctly signed answer that lists a self-made certificate with the right SAN (another CA) is refused outright.
    @Test func certificateOfAnotherCAIsRefused() throws {
        let world = try World()
        let rogue = try CertificateAuthority.create(commonName: "Rogue CA", keyKind: .p256)
        let good = try world.participantCertificate()
        let planted = try world.participantCertificate(of: rogue)
        let (statement, signature) = try world.signedStatement([good, planted])
        let trust = TrustStore(anchors: [world.ca.certificate])
        let error = try #require(throws: KlammerClientError.self) {
            _ = try DirectoryEntry.verify(
                statement: statement, signature: signature, broker: world.brokerCertificate,
                participant: Self.rostock, trustStore: trust)
        }
        #expect(error.kind == .verificationFailed)
        #expect(error.message.contains("not issued by a CA the client trusts"), "\(error)")
        #expect(error.message.contains(planted.fingerprint.hex), "\(error)")
    }

    /// Expired, not yet valid and CRL-revoked certificates of the right CA are dropped, the valid one is kept.
    @Test func expiredNotYetValidAndRevokedCertificatesAreDropped() throws {
        let world = try World()
        let good = try world.participantCertificate()
        let expired = try world.participantCertificate(notBefore: .now - 7200, notAfter: .now - 3600)
        let future = try world.participantCertificate(notBefore: .now + 3600, notAfter: .now + 7200)
        let revoked = try world.participantCertificate()
        let crl = try world.ca.makeCRL(revoked: [(revoked.serialNumberHex, .now - 60)])
        let (statement, signature) = try world.signedStatement([expired, good, revoked, future])
        let trust = TrustStore(anchors: [world.ca.certificate], crls: [crl])
        let entry = try DirectoryEntry.verify(
            statement: statement, signature: signature, broker: world.brokerCertificate,
            participant: Self.rostock, trustStore: trust)
        #expect(entry.certificates.map(\.fingerprint) == [good.fingerprint])
        #expect(entry.droppedCertificates.map(\.certificate.fingerprint) == [expired.fingerprint, revoked.fingerprint, future.fingerprint])
        #expect(entry.droppedCertificates[1].reason.contains("revoked"), "\(entry.droppedCertificates[1].reason)")
        // Encryption uses only what survived.
        #expect(try EncryptedPayload.recipientCertificates([entry]).map(\.fingerprint) == [good.fingerprint])

        // Only dropped certificates left: nothing to encrypt to, refused before anything is sent.
        let (onlyBad, badSignature) = try world.signedStatement([expired, revoked])
        let empty = try DirectoryEntry.verify(
            statement: onlyBad, signature: badSignature, broker: world.brokerCertificate,
            participant: Self.rostock, trustStore: trust)
        #expect(empty.certificates.isEmpty)
        #expect(throws: KlammerClientError.self) { _ = try EncryptedPayload.recipientCertificates([empty]) }
    }

    /// A certificate valid now but checked later (a cached answer) is dropped once it expired.
    @Test func cachedAnswerDropsACertificateThatExpiredSince() throws {
        let world = try World()
        let shortLived = try world.participantCertificate(notAfter: .now + 600)
        let (statement, signature) = try world.signedStatement([shortLived])
        let trust = TrustStore(anchors: [world.ca.certificate])
        let now = try DirectoryEntry.verify(
            statement: statement, signature: signature, broker: world.brokerCertificate,
            participant: Self.rostock, trustStore: trust)
        #expect(now.certificates.count == 1)
        let later = try DirectoryEntry.verify(
            statement: statement, signature: signature, broker: world.brokerCertificate,
            participant: Self.rostock, trustStore: trust, at: .now + 1200)
        #expect(later.certificates.isEmpty)
        #expect(later.droppedCertificates.count == 1)
    }
}
