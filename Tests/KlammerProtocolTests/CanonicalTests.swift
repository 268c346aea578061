import NIOCore
import Testing
@testable import KlammerProtocol

@Suite struct CanonicalTests {
    typealias F = Fixtures

    @Test func envelopeBytesAreDeterministic() throws {
        let again = try Envelope(
            clientMessageID: "az-2026-0001", sender: F.sender, recipients: [F.recipientA, F.recipientB],
            subject: "Anhörung § 28", contentType: "application/pdf", createdAtMillis: F.createdAt,
            payloadLength: UInt64(F.payload.count), payloadDigest: F.payloadDigest, timeToLiveSeconds: 604_800,
            inReplyTo: F.previousID)
        #expect(again.canonicalBytes == F.envelope.canonicalBytes)
        #expect(again == F.envelope)
        let reparsed = try Envelope(parsingCanonical: F.envelope.canonicalBytes)
        #expect(reparsed.canonicalBytes == F.envelope.canonicalBytes)
        #expect(F.envelope.canonicalBytes.starts(with: Array("KLAMMER-ENVELOPE\u{0}\u{1}".utf8)))
    }

    @Test func everyFieldChangesTheBytes() throws {
        let base = F.envelope
        func make(
            cmid: String = "az-2026-0001", recipients: [ParticipantID] = [F.recipientA, F.recipientB],
            subject: String = "Anhörung § 28", ttl: UInt32? = 604_800, conv: MessageID? = nil,
            reply: MessageID? = F.previousID, length: UInt64 = 20
        ) throws -> Envelope {
            try Envelope(
                clientMessageID: cmid, sender: F.sender, recipients: recipients, subject: subject,
                contentType: "application/pdf", createdAtMillis: F.createdAt, payloadLength: length,
                payloadDigest: F.payloadDigest, timeToLiveSeconds: ttl, conversationID: conv, inReplyTo: reply)
        }
        let variants = [
            try make(cmid: "az-2026-0002"), try make(recipients: [F.recipientB, F.recipientA]),
            try make(recipients: [F.recipientA]), try make(subject: "Anhörung § 29"), try make(ttl: nil),
            try make(conv: F.messageID), try make(reply: nil), try make(length: 21),
            // Unicode-equivalent but differently encoded subject (decomposed ö) is a different envelope.
            try make(subject: "Anho\u{0308}rung § 28")
        ]
        for v in variants {
            #expect(v.canonicalBytes != base.canonicalBytes)
            #expect(v != base)
            #expect(try Envelope(parsingCanonical: v.canonicalBytes) == v)
        }
        #expect(Set(variants.map(\.canonicalBytes)).count == variants.count)
    }

    @Test func envelopeConstructionRules() throws {
        func env(
            _ cmid: String = "x", _ recipients: [ParticipantID] = [F.recipientA], ct: String = "text/plain",
            ttl: UInt32? = nil
        ) throws -> Envelope {
            try Envelope(
                clientMessageID: cmid, sender: F.sender, recipients: recipients, subject: "",
                contentType: ct, createdAtMillis: 0, payloadLength: 0, payloadDigest: F.payloadDigest,
                timeToLiveSeconds: ttl)
        }
        #expect(throws: ProtocolError.self) { try env("") }
        #expect(throws: ProtocolError.self) { try env("has space") }
        #expect(throws: ProtocolError.self) { try env(String(repeating: "a", count: 129)) }
        #expect(throws: ProtocolError.self) { try env("x", []) }
        #expect(throws: ProtocolError.self) { try env("x", [F.recipientA, F.recipientA]) }
        #expect(throws: ProtocolError.self) { try env(ct: "") }
        #expect(throws: ProtocolError.self) { try env(ct: "text/plain\n") }
        #expect(throws: ProtocolError.self) { try env(ttl: 0) }
        _ = try env(String(repeating: "a", count: 128))
    }

    @Test func envelopeLimits() throws {
        var limits = ProtocolLimits()
        limits.maxRecipients = 1
        #expect(throws: ProtocolError(.tooManyRecipients, "2 recipients exceed limit 1")) {
            try F.envelope.validate(against: limits)
        }
        let err = try #require(throws: ProtocolError.self) {
            try Envelope(parsingCanonical: F.envelope.canonicalBytes, limits: limits)
        }
        #expect(err.code == .tooManyRecipients)
        limits = ProtocolLimits()
        limits.maxMessageSize = 10
        #expect(try code { try Envelope(parsingCanonical: F.envelope.canonicalBytes, limits: limits) } == .messageTooLarge)
        limits = ProtocolLimits()
        limits.maxSubjectBytes = 4
        #expect(try code { try Envelope(parsingCanonical: F.envelope.canonicalBytes, limits: limits) } == .limitExceeded)
        try F.envelope.validate(against: .default)
    }

    @Test func canonicalFormsRejectTamperedStructure() throws {
        var bytes = F.envelope.canonicalBytes
        #expect(try code { try Envelope(parsingCanonical: bytes + [0]) } == .trailingBytes)
        bytes[17] = 2
        #expect(try code { try Envelope(parsingCanonical: bytes) } == .unsupportedVersion)
        bytes = F.envelope.canonicalBytes
        bytes[0] = UInt8(ascii: "X")
        #expect(try code { try Envelope(parsingCanonical: bytes) } == .invalidEnvelope)
        // Domain separation: a receipt or ack statement never parses as another structure.
        #expect(throws: ProtocolError.self) { try Envelope(parsingCanonical: F.acceptedReceipt.canonicalBytes) }
        #expect(throws: ProtocolError.self) { try Receipt(parsingCanonical: F.envelope.canonicalBytes) }
        #expect(throws: ProtocolError.self) { try Receipt(parsingCanonical: F.ackStatement.canonicalBytes) }
        #expect(throws: ProtocolError.self) { try AcknowledgementStatement(parsingCanonical: F.acceptedReceipt.canonicalBytes) }
        // Every truncation of a canonical form is rejected.
        for n in 0..<F.envelope.canonicalBytes.count {
            #expect(throws: ProtocolError.self) { try Envelope(parsingCanonical: Array(F.envelope.canonicalBytes.prefix(n))) }
        }
        for n in 0..<F.acknowledgedReceipt.canonicalBytes.count {
            #expect(throws: ProtocolError.self) { try Receipt(parsingCanonical: Array(F.acknowledgedReceipt.canonicalBytes.prefix(n))) }
        }
        for n in 0..<F.ackStatement.canonicalBytes.count {
            #expect(throws: ProtocolError.self) {
                try AcknowledgementStatement(parsingCanonical: Array(F.ackStatement.canonicalBytes.prefix(n)))
            }
        }
    }

    @Test func receiptKindRules() throws {
        func receipt(_ kind: Receipt.Kind, recipient: ParticipantID?, reason: ErrorCode?) throws -> Receipt {
            try Receipt(
                kind: kind, messageID: F.messageID, envelopeDigest: F.envelopeDigest, sender: F.sender,
                recipient: recipient, timestampMillis: 1, brokerID: F.broker, reason: reason)
        }
        #expect(throws: ProtocolError.self) { try receipt(.accepted, recipient: F.recipientA, reason: nil) }
        #expect(throws: ProtocolError.self) { try receipt(.accepted, recipient: nil, reason: .expired) }
        #expect(throws: ProtocolError.self) { try receipt(.delivered, recipient: nil, reason: nil) }
        #expect(throws: ProtocolError.self) { try receipt(.rejected, recipient: nil, reason: nil) }
        #expect(throws: ProtocolError.self) { try receipt(.expired, recipient: nil, reason: ErrorCode(rawValue: 0)) }
        for kind in Receipt.Kind.allCases {
            let r = try receipt(
                kind, recipient: kind.recipientRequirement == false ? nil : F.recipientA,
                reason: kind.requiresReason ? .expired : nil)
            #expect(try Receipt(parsingCanonical: r.canonicalBytes) == r)
        }
        // An acknowledged receipt needs the matching recipient statement.
        #expect(throws: ProtocolError.self) { try SignedReceipt(receipt: F.acknowledgedReceipt, brokerSignature: F.brokerCMS) }
        #expect(throws: ProtocolError.self) {
            try SignedReceipt(
                receipt: F.acceptedReceipt, brokerSignature: F.brokerCMS,
                acknowledgement: .init(statement: F.ackStatement, signature: F.recipientCMS))
        }
        let otherStatement = AcknowledgementStatement(
            messageID: F.messageID, envelopeDigest: F.envelopeDigest,
            sender: F.sender, recipient: F.recipientB, timestampMillis: 1)
        #expect(throws: ProtocolError.self) {
            try SignedReceipt(
                receipt: F.acknowledgedReceipt, brokerSignature: F.brokerCMS,
                acknowledgement: .init(statement: otherStatement, signature: F.recipientCMS))
        }
    }

    @Test func batchProofShape() throws {
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 0, leafCount: 1) == 0)
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 2, leafCount: 3) == 1)
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 0, leafCount: 3) == 2)
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 4, leafCount: 5) == 1)
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 0, leafCount: 4096) == 12)
        #expect(BatchInclusionProof.expectedPathLength(leafIndex: 4095, leafCount: 4096) == 12)
        for count in UInt16(1)...300 {
            for index in 0..<count {
                #expect(BatchInclusionProof.expectedPathLength(leafIndex: index, leafCount: count) <= 9)
            }
        }
        #expect(throws: ProtocolError.self) { try BatchInclusionProof(cms: [1], leafCount: 3, leafIndex: 3, path: []) }
        #expect(throws: ProtocolError.self) { try BatchInclusionProof(cms: [1], leafCount: 4097, leafIndex: 0, path: []) }
        #expect(throws: ProtocolError.self) { try BatchInclusionProof(cms: [1], leafCount: 3, leafIndex: 2, path: []) }
        #expect(BatchInclusionProof.leafInput(envelopeDigest: F.envelopeDigest).first == 0x00)
        #expect(BatchInclusionProof.nodeInput(left: F.envelopeDigest, right: F.payloadDigest).count == 65)
    }
}

/// The code of the `ProtocolError` thrown by `body`; fails if nothing or something else is thrown.
func code<T>(_ body: () throws -> T) throws -> ErrorCode? {
    do {
        _ = try body()
        Issue.record("expected a ProtocolError, nothing was thrown")
        return nil
    } catch let e as ProtocolError {
        return e.code
    }
}
