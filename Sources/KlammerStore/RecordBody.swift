/// Decoded body of an append or carry record.
struct AppendBody {
    var expiresAtMs: Int64
    var appendedAtMs: Int64
    var sender: String
    var clientMessageID: String
    var recipients: [String]
    var outcome: [UInt8]
    var envelope: [UInt8]
    var payload: MessagePayload
}

/// The fields recovery needs from an append/carry record (payload and envelope are skipped, not copied).
struct AppendHead {
    var expiresAtMs: Int64
    var appendedAtMs: Int64
    var dedupeHash: UInt64
    var recipients: [String]
    var blob: BlobReference?
}

/// Per-recipient state stored in a carry record.
struct CarriedEntry {
    var deadLettered: Bool
    var attempts: UInt32
}

/// Encoding and decoding of record bodies (SPEC.md §2.4).
enum RecordBody {
    /// FNV-1a 64 over the encoded (u16 len, sender, u16 len, client id) bytes: the dedupe key hash.
    static func dedupeHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    /// Same value as hashing the encoded bytes, without building them.
    static func dedupeHash(sender: String, clientMessageID: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for str in [sender, clientMessageID] {
            let n = UInt16(str.utf8.count)
            h = (h ^ UInt64(n & 0xFF)) &* 0x0000_0100_0000_01B3
            h = (h ^ UInt64(n >> 8)) &* 0x0000_0100_0000_01B3
            for b in str.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        }
        return h
    }

    static func encodeAppend(_ a: AppendBody, into w: inout ByteWriter) {
        w.i64(a.expiresAtMs)
        w.i64(a.appendedAtMs)
        w.str16(a.sender)
        w.str16(a.clientMessageID)
        w.u16(UInt16(a.recipients.count))
        for r in a.recipients { w.str16(r) }
        w.bytes32(a.outcome)
        w.bytes32(a.envelope)
        switch a.payload {
        case .inline(let bytes):
            w.u8(0)
            w.bytes32(bytes)
        case .blob(let ref):
            w.u8(1)
            w.u64(ref.id)
            w.u64(ref.size)
            w.u32(ref.crc32c)
        }
    }

    static func decodeAppend(_ r: inout ByteReader) throws(ByteReader.Truncated) -> AppendBody {
        let exp = try r.i64()
        let app = try r.i64()
        let sender = try r.str16()
        let cmid = try r.str16()
        let n = Int(try r.u16())
        var recipients: [String] = []
        recipients.reserveCapacity(n)
        for _ in 0..<n { recipients.append(try r.str16()) }
        let outcome = try r.bytes32()
        let envelope = try r.bytes32()
        let payload: MessagePayload
        switch try r.u8() {
        case 0: payload = .inline(try r.bytes32())
        case 1: payload = .blob(BlobReference(id: try r.u64(), size: try r.u64(), crc32c: try r.u32()))
        default: throw ByteReader.Truncated()
        }
        return AppendBody(
            expiresAtMs: exp, appendedAtMs: app, sender: sender, clientMessageID: cmid,
            recipients: recipients, outcome: outcome, envelope: envelope, payload: payload)
    }

    static func decodeHead(_ r: inout ByteReader) throws(ByteReader.Truncated) -> AppendHead {
        let exp = try r.i64()
        let app = try r.i64()
        let keyStart = r.pos
        let sl = Int(try r.u16()); try r.need(sl); r.pos += sl
        let cl = Int(try r.u16()); try r.need(cl); r.pos += cl
        let hash = dedupeHash(UnsafeRawBufferPointer(rebasing: r.buf[keyStart..<r.pos]))
        let n = Int(try r.u16())
        var recipients: [String] = []
        recipients.reserveCapacity(n)
        for _ in 0..<n { recipients.append(try r.str16()) }
        try r.skipBytes32()
        try r.skipBytes32()
        var blob: BlobReference?
        switch try r.u8() {
        case 0: try r.skipBytes32()
        case 1: blob = BlobReference(id: try r.u64(), size: try r.u64(), crc32c: try r.u32())
        default: throw ByteReader.Truncated()
        }
        return AppendHead(expiresAtMs: exp, appendedAtMs: app, dedupeHash: hash, recipients: recipients, blob: blob)
    }

    /// Carry: original message id, the append body with the live recipients only, then their states.
    static func encodeCarry(messageID: UInt64, body: AppendBody, entries: [CarriedEntry]) -> [UInt8] {
        var w = ByteWriter(capacity: 128 + body.envelope.count + body.outcome.count)
        w.u64(messageID)
        encodeAppend(body, into: &w)
        for e in entries {
            w.u8(e.deadLettered ? 1 : 0)
            w.u32(e.attempts)
        }
        return w.bytes
    }

    static func decodeCarryEntries(_ r: inout ByteReader, count: Int) throws(ByteReader.Truncated) -> [CarriedEntry] {
        var out: [CarriedEntry] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let d = try r.u8()
            out.append(CarriedEntry(deadLettered: d == 1, attempts: try r.u32()))
        }
        return out
    }

    /// ack / attempt / deadLetter / expire / purge / replay: message id, recipient, attempts.
    static func encodeEntry(messageID: UInt64, recipient: String, attempts: UInt32 = 0) -> [UInt8] {
        var w = ByteWriter(capacity: 16 + recipient.utf8.count)
        w.u64(messageID)
        w.str16(recipient)
        w.u32(attempts)
        return w.bytes
    }

    /// Dedupe tombstone of a finished message: keeps (sender, client id) → outcome for the dedupe window.
    static func encodeTombstone(
        messageID: UInt64, appendedAtMs: Int64, sender: String, clientMessageID: String,
        outcome: [UInt8]
    ) -> [UInt8] {
        var w = ByteWriter(capacity: 64 + outcome.count)
        w.u64(messageID)
        w.i64(appendedAtMs)
        w.str16(sender)
        w.str16(clientMessageID)
        w.bytes32(outcome)
        return w.bytes
    }

    static func encodeFooter(records: UInt64, lastSeq: UInt64) -> [UInt8] {
        var w = ByteWriter(capacity: 16)
        w.u64(records)
        w.u64(lastSeq)
        return w.bytes
    }

    /// Sender, client id and outcome of an append, carry or tombstone record body.
    static func decodeDedupeFields(type: RecordType, body: UnsafeRawBufferPointer) throws(ByteReader.Truncated)
        -> (messageID: UInt64?, appendedAtMs: Int64, sender: String, clientMessageID: String, outcome: [UInt8])
    {
        var r = ByteReader(body)
        switch type {
        case .tombstone:
            let id = try r.u64()
            let at = try r.i64()
            return (id, at, try r.str16(), try r.str16(), try r.bytes32())
        case .append, .carry:
            var id: UInt64?
            if type == .carry { id = try r.u64() }
            let a = try decodeAppend(&r)
            return (id, a.appendedAtMs, a.sender, a.clientMessageID, a.outcome)
        default:
            throw ByteReader.Truncated()
        }
    }
}
