public import NIOCore

/// An envelope as stored and delivered by the broker: the sender-signed part plus the
/// broker-assigned message id and acceptance time (SPEC.md §5.3). Not signed by anyone itself;
/// the broker's ACCEPTED receipt binds `messageID` to the envelope digest.
public struct StoredEnvelope: Hashable, Sendable {
    /// Broker-assigned unique id.
    public var messageID: MessageID
    /// Acceptance time, milliseconds since the Unix epoch (UTC).
    public var acceptedAtMillis: UInt64
    /// The sender-signed part.
    public var envelope: Envelope

    /// Creates a stored envelope.
    public init(messageID: MessageID, acceptedAtMillis: UInt64, envelope: Envelope) {
        self.messageID = messageID
        self.acceptedAtMillis = acceptedAtMillis
        self.envelope = envelope
    }

    /// The expiry time in ms since the epoch, if the envelope has a TTL.
    public var expiresAtMillis: UInt64? {
        envelope.timeToLiveSeconds.map { acceptedAtMillis &+ UInt64($0) * 1000 }
    }

    /// Writes `message id (16) | accepted-at u64 | u32 length | canonical envelope bytes`.
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeBytes(messageID.bytes)
        buffer.writeInteger(acceptedAtMillis)
        buffer.writeBytes32(envelope.canonicalBytes)
    }

    /// Parses the layout written by `encode(into:)`, consuming exactly its bytes.
    public static func parse(_ buffer: inout ByteBuffer, limits: ProtocolLimits = .default) throws -> StoredEnvelope {
        var r = WireReader(buffer, context: "stored envelope")
        let s = try read(&r, limits: limits)
        buffer = r.buffer
        return s
    }

    static func read(_ r: inout WireReader, limits: ProtocolLimits) throws -> StoredEnvelope {
        let id = try r.messageID("message id")
        let acceptedAt = try r.u64("accepted at")
        let bytes = try r.slice32(max: limits.maxFrameSize, "envelope")
        return StoredEnvelope(
            messageID: id, acceptedAtMillis: acceptedAt,
            envelope: try Envelope(parsingCanonical: bytes, limits: limits))
    }
}
