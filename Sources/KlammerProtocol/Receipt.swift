public import NIOCore

/// A broker statement about a message (SPEC.md §5.4). The broker signs `canonicalBytes` with a
/// detached CMS; the wire container is `SignedReceipt`.
///
/// Field rules by kind: `accepted` has no recipient and no reason; `delivered` and `acknowledged`
/// need a recipient and no reason; `expired`, `deadLettered` and `rejected` need a reason and may
/// name a recipient (a per-recipient outcome).
public struct Receipt: Hashable, Sendable {
    /// Kind of a receipt (u8 on the wire).
    public enum Kind: UInt8, Hashable, Sendable, CaseIterable, Codable, CustomStringConvertible {
        /// The broker durably stored the message (answer to SEND_END).
        case accepted = 1
        /// The message was handed to the recipient's connection completely (DELIVER_END written).
        case delivered = 2
        /// The recipient acknowledged with its signed acknowledgement statement.
        case acknowledged = 3
        /// The TTL elapsed before acknowledgement.
        case expired = 4
        /// Delivery was given up (e.g. too many NACKs); the message moved to the dead-letter queue.
        case deadLettered = 5
        /// The submission was refused (reason says why).
        case rejected = 6

        /// Lower-case name as used in SPEC.md and JSON (`dead-lettered`).
        public var description: String {
            switch self {
            case .accepted: return "accepted"
            case .delivered: return "delivered"
            case .acknowledged: return "acknowledged"
            case .expired: return "expired"
            case .deadLettered: return "dead-lettered"
            case .rejected: return "rejected"
            }
        }

        /// Whether the kind requires a recipient (true), forbids it (false) or allows both (nil).
        public var recipientRequirement: Bool? {
            switch self {
            case .accepted: return false
            case .delivered, .acknowledged: return true
            case .expired, .deadLettered, .rejected: return nil
            }
        }

        /// Whether the kind requires a reason code (otherwise it forbids one).
        public var requiresReason: Bool {
            switch self {
            case .accepted, .delivered, .acknowledged: return false
            case .expired, .deadLettered, .rejected: return true
            }
        }
    }

    /// Domain-separation prefix `KLAMMER-RECEIPT\0` (16 bytes).
    public static let domainPrefix: [UInt8] = Array("KLAMMER-RECEIPT".utf8) + [0]
    /// Version byte following the prefix.
    public static let canonicalVersion: UInt8 = 1

    /// What happened.
    public let kind: Kind
    /// The broker-assigned message id.
    public let messageID: MessageID
    /// SHA-256 of the canonical signed envelope bytes.
    public let envelopeDigest: SHA256Digest
    /// The envelope's sender.
    public let sender: ParticipantID
    /// The recipient the receipt is about, where applicable.
    public let recipient: ParticipantID?
    /// Event time, ms since the Unix epoch (UTC), broker clock.
    public let timestampMillis: UInt64
    /// The participant id of the issuing broker.
    public let brokerID: ParticipantID
    /// Reason for `expired`, `deadLettered`, `rejected` (never code 0).
    public let reason: ErrorCode?

    /// The canonical signed bytes (computed once).
    public let canonicalBytes: [UInt8]

    /// Creates and validates a receipt; throws INVALID_VALUE if recipient/reason do not fit `kind`.
    public init(
        kind: Kind, messageID: MessageID, envelopeDigest: SHA256Digest, sender: ParticipantID,
        recipient: ParticipantID?, timestampMillis: UInt64, brokerID: ParticipantID,
        reason: ErrorCode? = nil
    ) throws {
        if let required = kind.recipientRequirement, required != (recipient != nil) {
            throw ProtocolError(.invalidValue, "\(kind) receipt must \(required ? "" : "not ")name a recipient")
        }
        if kind.requiresReason != (reason != nil) {
            throw ProtocolError(.invalidValue, "\(kind) receipt must \(kind.requiresReason ? "" : "not ")carry a reason")
        }
        if let reason, reason.rawValue == 0 {
            throw ProtocolError(.invalidValue, "reason code 0 is reserved for 'none'")
        }
        self.kind = kind
        self.messageID = messageID
        self.envelopeDigest = envelopeDigest
        self.sender = sender
        self.recipient = recipient
        self.timestampMillis = timestampMillis
        self.brokerID = brokerID
        self.reason = reason

        var out = ByteBuffer()
        out.writeBytes(Self.domainPrefix)
        out.writeInteger(Self.canonicalVersion)
        out.writeInteger(kind.rawValue)
        out.writeBytes(messageID.bytes)
        out.writeBytes(envelopeDigest.bytes)
        out.writeParticipantID(sender)
        out.writePresence(recipient != nil)
        if let recipient { out.writeParticipantID(recipient) }
        out.writeInteger(timestampMillis)
        out.writeParticipantID(brokerID)
        out.writeInteger(reason?.rawValue ?? 0)
        self.canonicalBytes = out.readBytes(length: out.readableBytes) ?? []
    }

    /// Parses canonical receipt bytes strictly (prefix, version, kind rules, no trailing bytes).
    public init(parsingCanonical buffer: ByteBuffer) throws {
        var r = WireReader(buffer, context: "receipt")
        guard try r.bytes(Self.domainPrefix.count, "domain prefix") == Self.domainPrefix else {
            throw r.error(.invalidValue, "wrong domain prefix")
        }
        let version = try r.u8("version")
        guard version == Self.canonicalVersion else {
            throw r.error(.unsupportedVersion, "canonical receipt version \(version) not supported")
        }
        let rawKind = try r.u8("kind")
        guard let kind = Kind(rawValue: rawKind) else { throw r.error(.invalidValue, "unknown receipt kind \(rawKind)") }
        let id = try r.messageID("message id")
        let digest = try r.digest("envelope digest")
        let sender = try r.participantID("sender")
        let recipient: ParticipantID? = try r.presence("recipient") ? try r.participantID("recipient") : nil
        let timestamp = try r.u64("timestamp")
        let broker = try r.participantID("broker id")
        let rawReason = try r.u16("reason")
        try r.finish()
        do {
            try self.init(
                kind: kind, messageID: id, envelopeDigest: digest, sender: sender, recipient: recipient,
                timestampMillis: timestamp, brokerID: broker,
                reason: rawReason == 0 ? nil : ErrorCode(rawValue: rawReason))
        } catch let e as ProtocolError {
            throw r.error(e.code, e.message)
        }
    }

    /// Convenience: parses canonical bytes from an array.
    public init(parsingCanonical bytes: [UInt8]) throws {
        try self.init(parsingCanonical: ByteBuffer(bytes: bytes))
    }

    /// Equality of the canonical bytes.
    public static func == (lhs: Receipt, rhs: Receipt) -> Bool { lhs.canonicalBytes == rhs.canonicalBytes }
    /// Hashes the canonical bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(canonicalBytes) }
}
