public import NIOCore

/// The sender's part of a message: everything the sender signs (SPEC.md §5.2).
///
/// The sender signs `canonicalBytes` (detached CMS, or a batch signature). The broker-assigned
/// message id is *not* part of it; see `StoredEnvelope`. Values are immutable and validated on
/// construction, so `canonicalBytes` is total; equality is equality of the canonical bytes
/// (so two subjects that are Unicode-equivalent but differently encoded are different envelopes).
public struct Envelope: Hashable, Sendable {
    /// Domain-separation prefix `KLAMMER-ENVELOPE\0` (17 bytes).
    public static let domainPrefix: [UInt8] = Array("KLAMMER-ENVELOPE".utf8) + [0]
    /// Version byte following the prefix.
    public static let canonicalVersion: UInt8 = 1
    /// Longest client message id in bytes.
    public static let maxClientMessageIDLength = 128

    /// Sender-chosen id for de-duplication and resumption (printable ASCII 0x21–0x7E, 1–128 bytes).
    public let clientMessageID: String
    /// The signing participant; must equal the participant authenticated on the connection.
    public let sender: ParticipantID
    /// One or more distinct recipients, in the sender's order.
    public let recipients: [ParticipantID]
    /// Free UTF-8 subject (may be empty).
    public let subject: String
    /// Media type of the payload (printable ASCII 0x20–0x7E, 1–255 bytes), e.g. `application/pdf`.
    public let contentType: String
    /// Creation time, milliseconds since 1970-01-01T00:00:00Z.
    public let createdAtMillis: UInt64
    /// Exact payload length in bytes.
    public let payloadLength: UInt64
    /// SHA-256 of the payload.
    public let payloadDigest: SHA256Digest
    /// Optional time to live in seconds after acceptance (≥ 1).
    public let timeToLiveSeconds: UInt32?
    /// Optional conversation id (by convention the message id of the conversation's first message).
    public let conversationID: MessageID?
    /// Optional message id this message replies to.
    public let inReplyTo: MessageID?

    /// The canonical signed bytes (computed once at construction).
    public let canonicalBytes: [UInt8]

    /// Creates and validates an envelope (limit-independent rules; see `validate(against:)`).
    /// Throws INVALID_ENVELOPE (or TOO_MANY_RECIPIENTS beyond the protocol ceiling).
    public init(
        clientMessageID: String,
        sender: ParticipantID,
        recipients: [ParticipantID],
        subject: String,
        contentType: String,
        createdAtMillis: UInt64,
        payloadLength: UInt64,
        payloadDigest: SHA256Digest,
        timeToLiveSeconds: UInt32? = nil,
        conversationID: MessageID? = nil,
        inReplyTo: MessageID? = nil
    ) throws {
        let cmid = Array(clientMessageID.utf8)
        guard (1...Self.maxClientMessageIDLength).contains(cmid.count), cmid.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
            throw ProtocolError(.invalidEnvelope, "client message id must be 1-128 printable ASCII characters without space")
        }
        guard !recipients.isEmpty else { throw ProtocolError(.invalidEnvelope, "envelope needs at least one recipient") }
        guard recipients.count <= Int(ProtocolLimits.Ceiling.maxRecipients) else {
            throw ProtocolError(.tooManyRecipients, "\(recipients.count) recipients exceed protocol ceiling")
        }
        guard Set(recipients).count == recipients.count else {
            throw ProtocolError(.invalidEnvelope, "recipients must be distinct")
        }
        guard subject.utf8.count <= Int(UInt16.max) else { throw ProtocolError(.invalidEnvelope, "subject too long") }
        let ct = Array(contentType.utf8)
        guard (1...255).contains(ct.count), ct.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E }) else {
            throw ProtocolError(.invalidEnvelope, "content type must be 1-255 printable ASCII characters")
        }
        if let ttl = timeToLiveSeconds, ttl == 0 {
            throw ProtocolError(.invalidEnvelope, "time to live must be at least 1 second")
        }
        self.clientMessageID = clientMessageID
        self.sender = sender
        self.recipients = recipients
        self.subject = subject
        self.contentType = contentType
        self.createdAtMillis = createdAtMillis
        self.payloadLength = payloadLength
        self.payloadDigest = payloadDigest
        self.timeToLiveSeconds = timeToLiveSeconds
        self.conversationID = conversationID
        self.inReplyTo = inReplyTo

        var out = ByteBuffer()
        out.writeBytes(Self.domainPrefix)
        out.writeInteger(Self.canonicalVersion)
        out.writeInteger(UInt8(cmid.count))
        out.writeBytes(cmid)
        out.writeParticipantID(sender)
        out.writeInteger(UInt16(recipients.count))
        for r in recipients { out.writeParticipantID(r) }
        out.writeString16(subject)
        out.writeInteger(UInt8(ct.count))
        out.writeBytes(ct)
        out.writeInteger(createdAtMillis)
        out.writeInteger(payloadLength)
        out.writeBytes(payloadDigest.bytes)
        out.writePresence(timeToLiveSeconds != nil)
        if let ttl = timeToLiveSeconds { out.writeInteger(ttl) }
        out.writePresence(conversationID != nil)
        if let c = conversationID { out.writeBytes(c.bytes) }
        out.writePresence(inReplyTo != nil)
        if let r = inReplyTo { out.writeBytes(r.bytes) }
        self.canonicalBytes = out.readBytes(length: out.readableBytes) ?? []
    }

    /// Checks the configurable limits: TOO_MANY_RECIPIENTS, MESSAGE_TOO_LARGE, LIMIT_EXCEEDED (subject).
    public func validate(against limits: ProtocolLimits) throws {
        guard recipients.count <= Int(limits.maxRecipients) else {
            throw ProtocolError(.tooManyRecipients, "\(recipients.count) recipients exceed limit \(limits.maxRecipients)")
        }
        guard payloadLength <= limits.maxMessageSize else {
            throw ProtocolError(.messageTooLarge, "payload length \(payloadLength) exceeds limit \(limits.maxMessageSize)")
        }
        guard subject.utf8.count <= Int(limits.maxSubjectBytes) else {
            throw ProtocolError(.limitExceeded, "subject length \(subject.utf8.count) exceeds limit \(limits.maxSubjectBytes)")
        }
    }

    /// Parses canonical envelope bytes strictly: exact prefix and version, every field bounded by
    /// `limits`, no trailing bytes. A successful parse re-encodes to exactly the input.
    public init(parsingCanonical buffer: ByteBuffer, limits: ProtocolLimits = .default) throws {
        var r = WireReader(buffer, context: "envelope")
        let prefix = try r.bytes(Self.domainPrefix.count, "domain prefix")
        guard prefix == Self.domainPrefix else { throw r.error(.invalidEnvelope, "wrong domain prefix") }
        let version = try r.u8("version")
        guard version == Self.canonicalVersion else {
            throw r.error(.unsupportedVersion, "canonical envelope version \(version) not supported")
        }
        let cmidLength = try r.u8("client message id length")
        let cmid = try r.bytes(Int(cmidLength), "client message id")
        let sender = try r.participantID("sender")
        let count = try r.u16("recipient count")
        guard count <= limits.maxRecipients else {
            throw r.error(.tooManyRecipients, "\(count) recipients exceed limit \(limits.maxRecipients)")
        }
        var recipients: [ParticipantID] = []
        recipients.reserveCapacity(min(Int(count), r.remaining / 4))
        for i in 0..<Int(count) { recipients.append(try r.participantID("recipient[\(i)]")) }
        let subject = try r.string16(max: limits.maxSubjectBytes, "subject")
        let ctLength = try r.u8("content type length")
        let ct = try r.bytes(Int(ctLength), "content type")
        let createdAt = try r.u64("created at")
        let payloadLength = try r.u64("payload length")
        guard payloadLength <= limits.maxMessageSize else {
            throw r.error(.messageTooLarge, "payload length \(payloadLength) exceeds limit \(limits.maxMessageSize)")
        }
        let digest = try r.digest("payload digest")
        let ttl: UInt32? = try r.presence("ttl") ? try r.u32("ttl") : nil
        let conversation: MessageID? = try r.presence("conversation id") ? try r.messageID("conversation id") : nil
        let replyTo: MessageID? = try r.presence("in-reply-to") ? try r.messageID("in-reply-to") : nil
        try r.finish()
        // Text checks come after the structure is known to be complete.
        guard let cmidString = String(validating: cmid, as: UTF8.self),
            let ctString = String(validating: ct, as: UTF8.self)
        else { throw r.error(.invalidUTF8, "client message id or content type is not ASCII") }
        do {
            try self.init(
                clientMessageID: cmidString, sender: sender, recipients: recipients, subject: subject,
                contentType: ctString, createdAtMillis: createdAt, payloadLength: payloadLength,
                payloadDigest: digest, timeToLiveSeconds: ttl, conversationID: conversation, inReplyTo: replyTo)
        } catch let e as ProtocolError {
            throw r.error(e.code, e.message)
        }
    }

    /// Convenience: parses canonical bytes from an array.
    public init(parsingCanonical bytes: [UInt8], limits: ProtocolLimits = .default) throws {
        try self.init(parsingCanonical: ByteBuffer(bytes: bytes), limits: limits)
    }

    /// Equality of the canonical bytes.
    public static func == (lhs: Envelope, rhs: Envelope) -> Bool { lhs.canonicalBytes == rhs.canonicalBytes }
    /// Hashes the canonical bytes.
    public func hash(into hasher: inout Hasher) { hasher.combine(canonicalBytes) }
}

extension Envelope {
    /// SHA-256 of the canonical envelope bytes (SPEC.md §5.2): the digest receipts, acknowledgements and batch leaves
    /// refer to. Pass KlammerCrypto's `SHA256.hash`.
    public func digest(sha256: SHA256Function) -> SHA256Digest {
        SHA256Digest(hashOutput: sha256(canonicalBytes))
    }
}
