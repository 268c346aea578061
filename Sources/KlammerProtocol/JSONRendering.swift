// Readable JSON (Codable) renderings of envelopes and receipts for `klammer receive` and logs
// (SPEC.md §5.8). Not canonical, never signed: decoding re-validates and recomputes canonical bytes.

/// Formats milliseconds since the Unix epoch as ISO 8601 UTC with milliseconds, without Foundation.
enum ISO8601Millis {
    static func format(_ millis: UInt64) -> String {
        let days = Int64(millis / 86_400_000)
        let msOfDay = millis % 86_400_000
        // Civil-from-days (H. Hinnant), valid for all non-negative day counts.
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ v: some BinaryInteger, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let h = msOfDay / 3_600_000, m = msOfDay / 60_000 % 60, s = msOfDay / 1000 % 60, ms = msOfDay % 1000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(h, 2)):\(pad(m, 2)):\(pad(s, 2)).\(pad(ms, 3))Z"
    }
}

extension Envelope: Codable {
    enum CodingKeys: String, CodingKey {
        case clientMessageID = "clientMessageId", sender, recipients, subject, contentType, createdAt, createdAtMillis,
            payloadLength, payloadSHA256 = "payloadSha256", timeToLiveSeconds, conversationID = "conversationId",
            inReplyTo
    }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        try self.init(
            clientMessageID: try c.decode(String.self, forKey: .clientMessageID),
            sender: try c.decode(ParticipantID.self, forKey: .sender),
            recipients: try c.decode([ParticipantID].self, forKey: .recipients),
            subject: try c.decode(String.self, forKey: .subject),
            contentType: try c.decode(String.self, forKey: .contentType),
            createdAtMillis: try c.decode(UInt64.self, forKey: .createdAtMillis),
            payloadLength: try c.decode(UInt64.self, forKey: .payloadLength),
            payloadDigest: try c.decode(SHA256Digest.self, forKey: .payloadSHA256),
            timeToLiveSeconds: try c.decodeIfPresent(UInt32.self, forKey: .timeToLiveSeconds),
            conversationID: try c.decodeIfPresent(MessageID.self, forKey: .conversationID),
            inReplyTo: try c.decodeIfPresent(MessageID.self, forKey: .inReplyTo))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(clientMessageID, forKey: .clientMessageID)
        try c.encode(sender, forKey: .sender)
        try c.encode(recipients, forKey: .recipients)
        try c.encode(subject, forKey: .subject)
        try c.encode(contentType, forKey: .contentType)
        try c.encode(ISO8601Millis.format(createdAtMillis), forKey: .createdAt)
        try c.encode(createdAtMillis, forKey: .createdAtMillis)
        try c.encode(payloadLength, forKey: .payloadLength)
        try c.encode(payloadDigest, forKey: .payloadSHA256)
        try c.encodeIfPresent(timeToLiveSeconds, forKey: .timeToLiveSeconds)
        try c.encodeIfPresent(conversationID, forKey: .conversationID)
        try c.encodeIfPresent(inReplyTo, forKey: .inReplyTo)
    }
}

extension StoredEnvelope: Codable {
    enum CodingKeys: String, CodingKey {
        case messageID = "messageId", acceptedAt, acceptedAtMillis, expiresAt, envelope
    }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            messageID: try c.decode(MessageID.self, forKey: .messageID),
            acceptedAtMillis: try c.decode(UInt64.self, forKey: .acceptedAtMillis),
            envelope: try c.decode(Envelope.self, forKey: .envelope))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(messageID, forKey: .messageID)
        try c.encode(ISO8601Millis.format(acceptedAtMillis), forKey: .acceptedAt)
        try c.encode(acceptedAtMillis, forKey: .acceptedAtMillis)
        try c.encodeIfPresent(expiresAtMillis.map(ISO8601Millis.format), forKey: .expiresAt)
        try c.encode(envelope, forKey: .envelope)
    }
}

extension Receipt: Codable {
    enum CodingKeys: String, CodingKey {
        case kind, messageID = "messageId", envelopeSHA256 = "envelopeSha256", sender, recipient, timestamp,
            timestampMillis, brokerID = "brokerId", reason
    }

    enum ReasonKeys: String, CodingKey { case code, name }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var reason: ErrorCode? = nil
        if c.contains(.reason), try !c.decodeNil(forKey: .reason) {
            let r = try c.nestedContainer(keyedBy: ReasonKeys.self, forKey: .reason)
            reason = ErrorCode(rawValue: try r.decode(UInt16.self, forKey: .code))
        }
        try self.init(
            kind: try c.decode(Kind.self, forKey: .kind),
            messageID: try c.decode(MessageID.self, forKey: .messageID),
            envelopeDigest: try c.decode(SHA256Digest.self, forKey: .envelopeSHA256),
            sender: try c.decode(ParticipantID.self, forKey: .sender),
            recipient: try c.decodeIfPresent(ParticipantID.self, forKey: .recipient),
            timestampMillis: try c.decode(UInt64.self, forKey: .timestampMillis),
            brokerID: try c.decode(ParticipantID.self, forKey: .brokerID),
            reason: reason)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(messageID, forKey: .messageID)
        try c.encode(envelopeDigest, forKey: .envelopeSHA256)
        try c.encode(sender, forKey: .sender)
        try c.encodeIfPresent(recipient, forKey: .recipient)
        try c.encode(ISO8601Millis.format(timestampMillis), forKey: .timestamp)
        try c.encode(timestampMillis, forKey: .timestampMillis)
        try c.encode(brokerID, forKey: .brokerID)
        if let reason {
            var r = c.nestedContainer(keyedBy: ReasonKeys.self, forKey: .reason)
            try r.encode(reason.rawValue, forKey: .code)
            try r.encode(reason.name, forKey: .name)
        }
    }
}

extension Receipt.Kind {
    /// Decodes the lower-case name (`"dead-lettered"`).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let kind = Self.allCases.first(where: { $0.description == s }) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "unknown receipt kind \(s)")
        }
        self = kind
    }

    /// Encodes the lower-case name.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
