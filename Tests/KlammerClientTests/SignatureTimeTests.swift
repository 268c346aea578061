import Foundation
import KlammerCrypto
import KlammerProtocol
import Testing
@testable import KlammerClient

/// A sender signature is checked at the broker's acceptance time (SPEC.md §5.10), not at "now": a message accepted
/// while the sender's certificate was valid still verifies after it expired (late delivery, archive).
@Suite(.serialized) struct SignatureTimeTests {
    static let sender = "ags:13004000"

    /// A CA, a sender whose certificate expires in one hour, a broker whose certificate expires in two, one signed
    /// message and its `accepted` receipt, written as a `klammer receive` message directory.
    struct Archive {
        let directory: TempDir
        let ca: CertificateAuthority
        let senderCertificate: Certificate
        let messageDirectory: String
        let acceptedAt: Date

        init(withReceipt: Bool = true) throws {
            directory = try TempDir()
            ca = try CertificateAuthority.create(commonName: "Archive CA", keyKind: .p256)
            let senderKey = try PrivateKey.generate(.p256)
            senderCertificate = try ca.issue(
                commonName: "Schwerin", subjectAlternativeNames: ["URI:urn:klammer:participant:\(SignatureTimeTests.sender)"],
                publicKey: senderKey.publicKey, usage: .client, notAfter: .now + 3600)
            let brokerKey = try PrivateKey.generate(.p256)
            let brokerCertificate = try ca.issue(
                commonName: "broker", subjectAlternativeNames: ["DNS:localhost"],
                publicKey: brokerKey.publicKey, usage: .server, notAfter: .now + 7200)
            let payload = Array("Bescheid".utf8)
            acceptedAt = Date()
            let envelope = try Envelope(
                clientMessageID: "archiv-1", sender: ParticipantID(SignatureTimeTests.sender),
                recipients: [ParticipantID("ags:13003000")], subject: "Archiv", contentType: "text/plain",
                createdAtMillis: UInt64(acceptedAt.timeIntervalSince1970 * 1000), payloadLength: UInt64(payload.count),
                payloadDigest: SHA256Digest(bytes: SHA256.hash(payload)), timeToLiveSeconds: nil)
            let cms = try CMS.signDetached(envelope.canonicalBytes, certificate: senderCertificate, key: senderKey)
            messageDirectory = directory.file("message")
            try FileManager.default.createDirectory(atPath: messageDirectory, withIntermediateDirectories: true)
            func write(_ name: String, _ bytes: [UInt8]) throws {
                try Data(bytes).write(to: URL(fileURLWithPath: (messageDirectory as NSString).appendingPathComponent(name)))
            }
            try write(MessageDirectory.envelopeFile, envelope.canonicalBytes)
            try write(MessageDirectory.signatureFile, cms)
            try write(MessageDirectory.senderCertificateFile, Array(senderCertificate.pemString.utf8))
            try write(MessageDirectory.payloadFile, payload)
            if withReceipt {
                let receipt = try Receipt(
                    kind: .accepted, messageID: MessageID.random(), envelopeDigest: MessageVerifier.digest(of: envelope),
                    sender: envelope.sender, recipient: nil,
                    timestampMillis: UInt64(acceptedAt.timeIntervalSince1970 * 1000),
                    brokerID: ParticipantID("broker:klammer-1"))
                let signed = try SignedReceipt(
                    receipt: receipt,
                    brokerSignature: try CMS.signDetached(receipt.canonicalBytes, certificate: brokerCertificate, key: brokerKey))
                try MessageDirectory.writeBrokerCertificate(brokerCertificate, in: messageDirectory)
                try MessageDirectory.writeReceipts([signed], in: messageDirectory)
            }
        }

        var trustStore: TrustStore { TrustStore(anchors: [ca.certificate]) }
    }

    /// `klammer verify` a day after both the sender's and the broker's certificates expired: valid, checked at the
    /// broker-signed acceptance time, and the result says so.
    @Test func archivedMessageVerifiesAfterTheCertificatesExpired() throws {
        let archive = try Archive()
        let later = archive.senderCertificate.notAfter + 86400
        let result = try MessageDirectory.verify(archive.messageDirectory, trustStore: archive.trustStore, at: later)
        #expect(result.signatureCheckedAtAcceptance)
        #expect(abs(result.signatureCheckedAt.timeIntervalSince(archive.acceptedAt)) < 1)
        #expect(result.receipts?.map(\.kind) == [.accepted])
    }

    /// Without a verified `accepted` receipt there is no evidence of when the signature existed: it is checked at the
    /// verification time, and fails once the certificate expired.
    @Test func withoutAcceptedReceiptTheCertificateIsCheckedNow() throws {
        let archive = try Archive(withReceipt: false)
        let now = try MessageDirectory.verify(archive.messageDirectory, trustStore: archive.trustStore)
        #expect(!now.signatureCheckedAtAcceptance)
        let later = archive.senderCertificate.notAfter + 86400
        let error = try #require(throws: KlammerClientError.self) {
            _ = try MessageDirectory.verify(archive.messageDirectory, trustStore: archive.trustStore, at: later)
        }
        #expect(error.message.contains("expired"), "\(error)")
    }

    /// A certificate that was not valid yet, or had expired, at the acceptance time fails; so does a revoked one
    /// (revocation is checked with the current CRL).
    @Test func certificateInvalidAtAcceptanceOrRevokedFails() throws {
        let archive = try Archive(withReceipt: false)
        let envelope = try Envelope(
            parsingCanonical: try MessageDirectory.readSmall(archive.messageDirectory + "/" + MessageDirectory.envelopeFile))
        let signature = SenderSignature.single(
            cms: try MessageDirectory.readSmall(archive.messageDirectory + "/" + MessageDirectory.signatureFile))
        let certificate = archive.senderCertificate
        // Accepted before notAfter, checked long after: valid.
        try MessageVerifier.verifySignature(
            envelope: envelope, signature: signature, senderCertificate: certificate,
            trustStore: archive.trustStore, signedAt: .now, at: certificate.notAfter + 86400)
        // Accepted after notAfter: refused, naming the time.
        let expired = try #require(throws: KlammerClientError.self) {
            try MessageVerifier.verifySignature(
                envelope: envelope, signature: signature, senderCertificate: certificate,
                trustStore: archive.trustStore, signedAt: certificate.notAfter + 60, at: certificate.notAfter + 86400)
        }
        #expect(expired.message.contains("acceptance time"), "\(expired)")
        #expect(throws: KlammerClientError.self) {
            try MessageVerifier.verifySignature(
                envelope: envelope, signature: signature, senderCertificate: certificate,
                trustStore: archive.trustStore, signedAt: certificate.notBefore - 60)
        }
        // Revoked since: refused although it was valid at acceptance.
        let crl = try archive.ca.makeCRL(revoked: [(certificate.serialNumberHex, .now)])
        let revoked = try #require(throws: KlammerClientError.self) {
            try MessageVerifier.verifySignature(
                envelope: envelope, signature: signature, senderCertificate: certificate,
                trustStore: TrustStore(anchors: [archive.ca.certificate], crls: [crl]), signedAt: .now)
        }
        #expect(revoked.message.contains("revoked"), "\(revoked)")
    }

    /// Online: the recipient's clock is past the sender's notAfter when the message arrives (a delivery long after
    /// acceptance); it still verifies, because the broker accepted it while the certificate was valid.
    @Test func lateDeliveryVerifiesAtTheAcceptanceTime() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let sender = try await KlammerClient.connect(profile: daemon.profile(EndToEndTests.schwerin))
        let payload = Array("spät zugestellt".utf8)
        let prepared = try PreparedMessage.prepare(
            credentials: sender.credentials, recipients: [EndToEndTests.id(EndToEndTests.rostock)],
            subject: "spät", contentType: "text/plain", payload: .bytes(payload))
        _ = try await sender.send(prepared)
        let notAfter = sender.credentials.certificate.notAfter
        await sender.close()

        let recipient = try await KlammerClient.connect(profile: daemon.profile(EndToEndTests.rostock))
        await recipient.useClock { notAfter + 86400 }
        let messages = try await EndToEndTests.fetchAll(recipient)
        await recipient.close()
        let message = try #require(messages.first)
        #expect(message.isVerified, "\(String(describing: message.verificationError))")
    }
}
