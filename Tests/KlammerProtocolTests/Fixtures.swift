import NIOCore
@testable import KlammerProtocol

/// Deterministic sample values used by the SPEC.md test vectors.
enum Fixtures {
    static func pid(_ s: String) -> ParticipantID { try! ParticipantID(s) }
    static func hex(_ s: String) -> [UInt8] { Hex.decode(s)! }
    static func digest(_ s: String) -> SHA256Digest { SHA256Digest(hex: s)! }

    static let sender = pid("ags:13004000")
    static let recipientA = pid("ags:09162000")
    static let recipientB = pid("ags:11000000")
    static let broker = pid("broker:klammer-1")

    static let payload: [UInt8] = Array("Klammer test payload".utf8)
    /// SHA-256("Klammer test payload").
    static let payloadDigest = digest("868342790a3b8c7191542f94d145001dfd6ccf5429ce29f3bc6b36aca9073d37")
    static let messageID = MessageID(hex: "00112233445566778899aabbccddeeff")!
    static let previousID = MessageID(hex: "0f0e0d0c0b0a09080706050403020100")!
    /// 2026-11-25T09:30:00Z.
    static let createdAt: UInt64 = 1_795_599_000_000

    /// Placeholder CMS / certificate bytes (not real DER structures; this module treats them as opaque).
    static let senderCMS: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x01]
    static let brokerCMS: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x02]
    static let recipientCMS: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x03]
    static let senderCertificate: [UInt8] = [0x30, 0x03, 0x02, 0x01, 0x04]

    static let envelope = try! Envelope(
        clientMessageID: "az-2026-0001",
        sender: sender,
        recipients: [recipientA, recipientB],
        subject: "Anhörung § 28",
        contentType: "application/pdf",
        createdAtMillis: createdAt,
        payloadLength: UInt64(payload.count),
        payloadDigest: payloadDigest,
        timeToLiveSeconds: 604_800,
        conversationID: nil,
        inReplyTo: previousID)

    /// SHA-256 of `envelope.canonicalBytes` (computed externally; see SPEC.md §5.2 vector).
    static let envelopeDigest = digest(envelopeDigestHex)
    static let envelopeDigestHex = "fe2806fb05142be7cd44bedcac89fd974269cb5f889dbc5e35be085c7843e567"

    static let stored = StoredEnvelope(messageID: messageID, acceptedAtMillis: createdAt + 1_500, envelope: envelope)

    static let acceptedReceipt = try! Receipt(
        kind: .accepted, messageID: messageID, envelopeDigest: envelopeDigest, sender: sender,
        recipient: nil, timestampMillis: createdAt + 1_500, brokerID: broker)

    static let ackStatement = AcknowledgementStatement(
        messageID: messageID, envelopeDigest: envelopeDigest, sender: sender, recipient: recipientA,
        timestampMillis: createdAt + 60_000)

    static let acknowledgedReceipt = try! Receipt(
        kind: .acknowledged, messageID: messageID, envelopeDigest: envelopeDigest, sender: sender,
        recipient: recipientA, timestampMillis: createdAt + 60_250, brokerID: broker)

    static let rejectedReceipt = try! Receipt(
        kind: .rejected, messageID: messageID, envelopeDigest: envelopeDigest, sender: sender,
        recipient: recipientB, timestampMillis: createdAt + 1_500, brokerID: broker, reason: .unknownRecipient)

    static let signedAccepted = try! SignedReceipt(receipt: acceptedReceipt, brokerSignature: brokerCMS)
    static let signedAcknowledged = try! SignedReceipt(
        receipt: acknowledgedReceipt, brokerSignature: brokerCMS,
        acknowledgement: .init(statement: ackStatement, signature: recipientCMS))

    /// Batch of 3 envelopes, this one at index 2: promoted at level 0, one sibling at level 1.
    /// Other leaves: SHA-256("envelope 0"), SHA-256("envelope 1"); sibling = node(leaf0, leaf1).
    static let batchSiblingHex = "033b08cbc41a84f7b29cd43deced6350bdb3c103f182761663684e93197737f7"
    /// root = node(node(leaf0, leaf1), leaf2) (computed externally, SPEC.md §5.6).
    static let batchRootHex = "c0fa2dcac071db91f96441469c6def2e700f21d48bf0cf062503cd33c913b679"
    static let batchProof = try! BatchInclusionProof(
        cms: senderCMS, leafCount: 3, leafIndex: 2, path: [digest(batchSiblingHex)])

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    /// One sample frame per frame type (plus the batch form of SEND_END), keyed by vector name.
    static let frames: [(name: String, frame: Frame)] = [
        ("hello", .hello(.init(minVersion: 1, maxVersion: 1, maxFrameSize: 1 << 20, agent: "klammer/0.1"))),
        ("welcome", .welcome(.init(version: 1, participant: sender, brokerID: broker, limits: .default, agent: "klammerd/0.1"))),
        ("error", .error(.init(requestID: 7, code: .impersonation, message: "sender is not ags:09162000"))),
        ("ping", .ping(.init(data: 0x0102_0304_0506_0708))),
        ("pong", .pong(.init(data: 0x0102_0304_0506_0708))),
        ("goaway", .goAway(.init(lastRequestID: 9, code: .shuttingDown, message: "maintenance"))),
        ("send_begin", .sendBegin(.init(requestID: 1, signatureForm: .single, envelope: envelope))),
        ("ready", .ready(.init(requestID: 1, offset: 0))),
        ("chunk", .chunk(.init(requestID: 1, offset: 0, data: buffer(payload)))),
        ("send_end", .sendEnd(.init(requestID: 1, signature: .single(cms: senderCMS)))),
        ("send_end_batch", .sendEnd(.init(requestID: 2, signature: .batch(batchProof)))),
        ("accepted", .accepted(.init(requestID: 1, receipt: signedAccepted))),
        ("window_update", .windowUpdate(.init(increment: 65_536))),
        ("fetch", .fetch(.init(requestID: 3, maxMessages: 10, resume: .init(messageID: messageID, offset: 8)))),
        ("subscribe", .subscribe(.init(requestID: 5, topics: .all, credits: 16))),
        ("credit", .credit(.init(requestID: 5, credits: 4))),
        (
            "deliver_begin",
            .deliverBegin(
                .init(
                    requestID: 5, storedEnvelope: stored, senderSignature: .single(cms: senderCMS),
                    senderCertificate: senderCertificate, offset: 0))
        ),
        ("deliver_chunk", .deliverChunk(.init(requestID: 5, messageID: messageID, offset: 0, data: buffer(payload)))),
        ("deliver_end", .deliverEnd(.init(requestID: 5, messageID: messageID))),
        ("ack", .ack(.init(requestID: 6, statement: ackStatement, signature: recipientCMS))),
        ("nack", .nack(.init(requestID: 8, messageID: messageID, retryAfterMillis: 30_000))),
        ("fetch_done", .fetchDone(.init(requestID: 3, delivered: 1, moreAvailable: false))),
        ("receipt", .receipt(.init(requestID: 6, receipt: signedAcknowledged))),
        ("status_request", .statusRequest(.init(requestID: 10, messageID: messageID))),
        (
            "routing_slip",
            .routingSlip(
                .init(
                    requestID: 10, messageID: messageID, more: false,
                    receipts: [signedAccepted, signedAcknowledged]))
        ),
        ("directory_lookup", .directoryLookup(.init(requestID: 11, participant: recipientA))),
        ("directory_answer", .directoryAnswer(.init(requestID: 11, statement: directoryStatement, signature: brokerCMS)))
    ]

    /// The directory answer for `ags:09162000`: one certificate, valid for one hour (SPEC.md §5.11).
    static let directoryStatement = try! DirectoryStatement(
        participant: recipientA, issuedAtMillis: createdAt, validUntilMillis: createdAt + 3_600_000, broker: broker,
        certificates: [senderCertificate])

    /// Canonical structures with their vector names.
    static let canonical: [(name: String, bytes: [UInt8])] = [
        ("envelope", envelope.canonicalBytes),
        ("receipt_accepted", acceptedReceipt.canonicalBytes),
        ("receipt_acknowledged", acknowledgedReceipt.canonicalBytes),
        ("receipt_rejected", rejectedReceipt.canonicalBytes),
        ("ack_statement", ackStatement.canonicalBytes),
        ("batch_root", try! BatchRootStatement(leafCount: 3, root: digest(batchRootHex)).canonicalBytes),
        ("signed_receipt_acknowledged", signedAcknowledged.encodedBytes),
        ("directory_statement", directoryStatement.canonicalBytes)
    ]
}
