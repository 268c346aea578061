public import NIOCore

/// What a recipient signs to acknowledge a message (SPEC.md §5.7). Sent in ACK; the broker
/// embeds it with the recipient's signature in the `acknowledged` receipt so the sender can
/// verify the recipient's own statement offline.
public struct AcknowledgementStatement: Hashable, Sendable {
    /// Domain-separation prefix `KLAMMER-ACK\0` (12 bytes).
    public static let domainPrefix: [UInt8] = Array("KLAMMER-ACK".utf8) + [0]
    /// Version byte following the prefix.
    public static let canonicalVersion: UInt8 = 1

    /// The acknowledged message.
    public let messageID: MessageID
    /// SHA-256 of the canonical signed envelope bytes the recipient verified.
    public let envelopeDigest: SHA256Digest
    /// The message's sender.
    public let sender: ParticipantID
    /// The acknowledging recipient (must be the participant on the connection).
    public let recipient: ParticipantID
    /// Recipient's clock, ms since the Unix epoch (UTC).
    public let timestampMillis: UInt64

    /// The canonical signed bytes.
    public let canonicalBytes: [UInt8]

    /// Creates a statement.
    public init(
        messageID: MessageID, envelopeDigest: SHA256Digest, sender: ParticipantID,
        recipient: ParticipantID, timestampMillis: UInt64
    ) {
        self.messageID = messageID
        self.envelopeDigest = envelopeDigest
        self.sender = sender
        self.recipient = recipient
        self.timestampMillis = timestampMillis
        var out = ByteBuffer()
        out.writeBytes(Self.domainPrefix)
        out.writeInteger(Self.canonicalVersion)
        out.writeBytes(messageID.bytes)
        out.writeBytes(envelopeDigest.bytes)
        out.writeParticipantID(sender)
        out.writeParticipantID(recipient)
        out.writeInteger(timestampMillis)
        self.canonicalBytes = out.readBytes(length: out.readableBytes) ?? []
    }

    /// Parses canonical bytes strictly.
    public init(parsingCanonical buffer: ByteBuffer) throws {
        var r = WireReader(buffer, context: "acknowledgement statement")
        guard try r.bytes(Self.domainPrefix.count, "domain prefix") == Self.domainPrefix else {
            throw r.error(.invalidValue, "wrong domain prefix")
        }
        let version = try r.u8("version")
        guard version == Self.canonicalVersion else {
            throw r.error(.unsupportedVersion, "acknowledgement statement version \(version) not supported")
        }
        let id = try r.messageID("message id")
        let digest = try r.digest("envelope digest")
        let sender = try r.participantID("sender")
        let recipient = try r.participantID("recipient")
        let timestamp = try r.u64("timestamp")
        try r.finish()
        self.init(messageID: id, envelopeDigest: digest, sender: sender, recipient: recipient, timestampMillis: timestamp)
    }

    /// Convenience: parses canonical bytes from an array.
    public init(parsingCanonical bytes: [UInt8]) throws {
        try self.init(parsingCanonical: ByteBuffer(bytes: bytes))
    }
}
