import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore
import Testing
@testable import KlammerClient
import KlammerTestSupport

/// Envelope building and signing, the received-message directory, and offline verification — checked against the
/// real `openssl cms -verify` too.
@Suite struct MessageSigningTests {
    static let rostock = try! ParticipantID("ags:13003000")
    static let ludwigslust = try! ParticipantID("ags:13076000")

    @Test func preparedEnvelopeIsCanonicalAndSignedBySender() throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        let payload = Array("Bescheid über die Anhörung".utf8)
        let prepared = try PreparedMessage.prepare(
            credentials: schwerin.credentials, recipients: [Self.rostock, Self.ludwigslust], subject: "Anhörung § 28",
            contentType: "text/plain", payload: .bytes(payload), clientMessageID: "az-1", timeToLiveSeconds: 3600,
            createdAt: Date(timeIntervalSince1970: 1_795_599_000))
        let e = prepared.envelope
        #expect(e.sender.rawValue == "ags:13004000")
        #expect(e.recipients == [Self.rostock, Self.ludwigslust])
        #expect(e.createdAtMillis == 1_795_599_000_000)
        #expect(e.payloadLength == UInt64(payload.count))
        #expect(e.payloadDigest.bytes == SHA256.hash(payload))
        #expect(try Envelope(parsingCanonical: e.canonicalBytes) == e)
        guard case .single(let cms) = prepared.signature else { Issue.record("not single"); return }
        try CMS.verifyDetached(signature: cms, content: e.canonicalBytes, signer: schwerin.credentials.certificate)
        try MessageVerifier.verifySignature(
            envelope: e, signature: prepared.signature,
            senderCertificate: schwerin.credentials.certificate, trustStore: pki.trustStore)
        // A random client message id is used when none is given.
        let other = try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([1]))
        #expect(other.envelope.clientMessageID.hasPrefix("klammer-"))
        #expect(other.envelope.clientMessageID != e.clientMessageID)
    }

    @Test func fileAndMemoryPayloadsGiveTheSameDigest() throws {
        let dir = try TempDir()
        let bytes = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir.file("doc")))
        let file = try PayloadSource.file(dir.file("doc")).measure()
        let memory = try PayloadSource.bytes(bytes).measure()
        #expect(file.length == 700_000)
        #expect(file.digest == memory.digest)
        #expect(throws: KlammerClientError.self) { try PayloadSource.file(dir.file("missing")).measure() }
        #expect(throws: KlammerClientError.self) { try PayloadSource.file(dir.path).measure() }
    }

    @Test func invalidInputIsRefusedBeforeSigning() throws {
        let pki = try TestPKI()
        let schwerin = try pki.participant("ags:13004000")
        #expect { try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [], payload: .bytes([1])) } throws: { error in
            (error as? KlammerClientError)?.code == .invalidEnvelope
        }
        #expect(throws: KlammerClientError.self) {
            try PreparedMessage.prepare(
                credentials: schwerin.credentials, recipients: [Self.rostock], payload: .bytes([1]), clientMessageID: "has space")
        }
        #expect(throws: KlammerClientError.self) {
            try PreparedMessage.prepare(credentials: schwerin.credentials, recipients: [Self.rostock, Self.rostock], payload: .bytes([1]))
        }
    }

    /// A message as a broker would deliver it, written into a directory.
    static func receivedMessage(pki: TestPKI, payload: [UInt8]) throws -> ReceivedMessage {
        let schwerin = try pki.participant("ags:13004000")
        let prepared = try PreparedMessage.prepare(
            credentials: schwerin.credentials, recipients: [rostock],
            subject: "Prüfung", contentType: "application/pdf", payload: .bytes(payload))
        let stored = StoredEnvelope(
            messageID: .random(), acceptedAtMillis: prepared.envelope.createdAtMillis + 5, envelope: prepared.envelope)
        let (length, digest) = try PayloadSource.bytes(payload).measure()
        return ReceivedMessage(
            stored: stored, signature: prepared.signature, senderCertificateDER: schwerin.credentials.certificate.derBytes,
            payload: .bytes(payload), payloadDigest: digest, payloadLength: length, verificationError: nil)
    }

    @Test func messageDirectoryVerifiesOfflineAndWithOpenSSL() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let message = try Self.receivedMessage(pki: pki, payload: Array("%PDF-1.7 test".utf8))
        let directory = try MessageDirectory.write(message, into: out.path)
        #expect(directory == out.file(message.messageID.hex))
        for name in [
            "payload", "envelope.bin", "envelope.json", "signature.p7s", "signature.bin", "sender.pem", "receipts.json", "receipts"
        ] {
            #expect(FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(name)), "\(name)")
        }
        let json = try String(contentsOfFile: directory + "/envelope.json", encoding: .utf8)
        #expect(json.contains("\"messageId\" : \"\(message.messageID.hex)\""))
        #expect(json.contains("Prüfung"))

        let result = try MessageDirectory.verify(directory, trustStore: pki.trustStore)
        #expect(result.envelope == message.envelope)
        #expect(result.form == .single)

        // The same check with a verifier we did not write.
        let openssl = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/envelope.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", pki.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(openssl.status == 0, "\(openssl.stderr)")

        // The `klammer verify` command agrees, needing only the CA.
        let cli = try ProcessRunner.klammer(["verify", "--ca", pki.caPath, directory])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("OK"))
        #expect(cli.stdout.contains("ags:13004000"))
    }

    @Test func tamperingIsDetectedOfflineAndByOpenSSL() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let message = try Self.receivedMessage(pki: pki, payload: Array("original".utf8))
        let directory = try MessageDirectory.write(message, into: out.path)

        // Altered payload: the signature still verifies, the digest does not.
        try Data("altered!".utf8).write(to: URL(fileURLWithPath: directory + "/payload"))
        #expect { try MessageDirectory.verify(directory, trustStore: pki.trustStore) } throws: { error in
            (error as? KlammerClientError)?.message.contains("payload was altered") == true
        }
        let cli = try ProcessRunner.klammer(["verify", "--ca", pki.caPath, directory])
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("altered"))

        // Altered envelope (one byte of the subject): neither we nor openssl accept the signature.
        try Data("original".utf8).write(to: URL(fileURLWithPath: directory + "/payload"))
        var envelope = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/envelope.bin")))
        let subjectIndex = try #require(
            envelope.indices.first { envelope[$0] == UInt8(ascii: "P") && envelope[$0 + 1] == UInt8(ascii: "r") })
        envelope[subjectIndex] = UInt8(ascii: "Q")
        try Data(envelope).write(to: URL(fileURLWithPath: directory + "/envelope.bin"))
        #expect { try MessageDirectory.verify(directory, trustStore: pki.trustStore) } throws: { error in
            (error as? KlammerClientError)?.kind == .verificationFailed
        }
        let openssl = try ProcessRunner.openssl([
            "cms", "-verify", "-binary", "-inform", "DER", "-in", directory + "/signature.p7s",
            "-content", directory + "/envelope.bin", "-certfile", directory + "/sender.pem",
            "-CAfile", pki.caPath, "-purpose", "any", "-out", "/dev/null"
        ])
        #expect(openssl.status != 0)

        // A sender certificate from another CA is not trusted.
        let otherPKI = try TestPKI()
        #expect { try MessageDirectory.verify(directory, trustStore: otherPKI.trustStore) } throws: { error in
            (error as? KlammerClientError)?.message.contains("not trusted") == true
        }
    }

    @Test func senderCertificateMustNameTheEnvelopeSender() throws {
        let pki = try TestPKI()
        let message = try Self.receivedMessage(pki: pki, payload: [1, 2, 3])
        let impostor = try pki.participant("ags:13076000")
        #expect {
            try MessageVerifier.verifySignature(
                envelope: message.envelope, signature: message.signature,
                senderCertificate: impostor.credentials.certificate, trustStore: pki.trustStore)
        } throws: { error in
            (error as? KlammerClientError)?.message.contains("envelope names ags:13004000") == true
        }
    }

    @Test func receiptsAreWrittenInIssueOrder() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let message = try Self.receivedMessage(pki: pki, payload: [9])
        let directory = try MessageDirectory.write(message, into: out.path)
        let broker = try ParticipantID("broker:test")
        let digest = MessageVerifier.digest(of: message.envelope)
        let accepted = try SignedReceipt(
            receipt: Receipt(
                kind: .accepted, messageID: message.messageID, envelopeDigest: digest,
                sender: message.envelope.sender, recipient: nil, timestampMillis: message.envelope.createdAtMillis + 1, brokerID: broker,
                reason: nil),
            brokerSignature: [0x30, 0x00])
        let delivered = try SignedReceipt(
            receipt: Receipt(
                kind: .delivered, messageID: message.messageID, envelopeDigest: digest,
                sender: message.envelope.sender, recipient: Self.rostock, timestampMillis: message.envelope.createdAtMillis + 2,
                brokerID: broker, reason: nil),
            brokerSignature: [0x30, 0x00])
        try MessageDirectory.writeReceipts([accepted, delivered], in: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory + "/receipts").sorted()
        #expect(
            names == [
                "01-accepted.bin", "01-accepted.p7s", "01-accepted.receipt",
                "02-delivered.bin", "02-delivered.p7s", "02-delivered.receipt"
            ])
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: directory + "/receipts/02-delivered.receipt"))
                == Data(delivered.receipt.canonicalBytes))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: directory + "/receipts/02-delivered.bin")))
        #expect(try SignedReceipt(parsing: bytes) == delivered)
    }

    @Test func brokerSignedReceiptsVerifyOfflineAndTamperingIsCaught() throws {
        let pki = try TestPKI()
        let out = try TempDir()
        let message = try Self.receivedMessage(pki: pki, payload: [1, 2, 3])
        let directory = try MessageDirectory.write(message, into: out.path)
        let broker = try pki.participant("broker:test")
        let digest = MessageVerifier.digest(of: message.envelope)
        func signed(_ kind: Receipt.Kind, recipient: ParticipantID?, at time: UInt64) throws -> SignedReceipt {
            let receipt = try Receipt(
                kind: kind, messageID: message.messageID, envelopeDigest: digest, sender: message.envelope.sender,
                recipient: recipient, timestampMillis: time, brokerID: try ParticipantID("broker:test"), reason: nil)
            let cms = try CMS.signDetached(
                receipt.canonicalBytes, certificate: broker.credentials.certificate, key: broker.credentials.privateKey)
            return try SignedReceipt(receipt: receipt, brokerSignature: cms)
        }
        let base = message.envelope.createdAtMillis
        try MessageDirectory.writeReceipts(
            [signed(.accepted, recipient: nil, at: base + 1), signed(.delivered, recipient: Self.rostock, at: base + 2)], in: directory)

        // Without broker.pem the receipts are not checked (and not claimed to be).
        #expect(try MessageDirectory.verify(directory, trustStore: pki.trustStore).receipts == nil)
        try MessageDirectory.writeBrokerCertificate(broker.credentials.certificate, in: directory)
        let result = try MessageDirectory.verify(directory, trustStore: pki.trustStore)
        #expect(result.receipts?.map(\.kind) == [.accepted, .delivered])
        let cli = try ProcessRunner.klammer(["verify", "--ca", pki.caPath, directory])
        #expect(cli.status == 0, "\(cli.stderr)")
        #expect(cli.stdout.contains("2 signed by the broker: accepted, delivered (ags:13003000)"))
        #expect(cli.stdout.contains("(broker-signed acceptance time;"), "\(cli.stdout)")

        // A receipt whose timestamp was changed no longer verifies.
        let file = directory + "/receipts/02-delivered.bin"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: file)))
        let stamp = (0..<8).map { UInt8(truncatingIfNeeded: (base + 2) >> (56 - 8 * $0)) }
        let position = try #require((0..<(bytes.count - 8)).first { i in bytes[i..<(i + 8)].elementsEqual(stamp) })
        bytes[position + 7] ^= 0x08
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect { try MessageDirectory.verify(directory, trustStore: pki.trustStore) } throws: { error in
            (error as? KlammerClientError)?.message.contains("does not verify") == true
        }
    }
}
