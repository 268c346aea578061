import KlammerHex
import NIOCore

/// Strict, bounds-checked reader over one frame body or one canonical structure.
/// Every failure is a `ProtocolError`; no read allocates more than the bytes already present.
struct WireReader {
    var buffer: ByteBuffer
    let context: String

    init(_ buffer: ByteBuffer, context: String) {
        self.buffer = buffer
        self.context = context
    }

    init(bytes: some Sequence<UInt8>, context: String) {
        self.init(ByteBuffer(bytes: bytes), context: context)
    }

    var remaining: Int { buffer.readableBytes }

    func error(_ code: ErrorCode, _ message: String) -> ProtocolError {
        ProtocolError(code, "\(context): \(message)")
    }

    private func truncated(_ field: String, _ needed: Int) -> ProtocolError {
        error(.malformedFrame, "field '\(field)' truncated (needs \(needed) bytes, \(remaining) left)")
    }

    mutating func u8(_ field: String) throws -> UInt8 {
        guard let v = buffer.readInteger(as: UInt8.self) else { throw truncated(field, 1) }
        return v
    }

    mutating func u16(_ field: String) throws -> UInt16 {
        guard let v = buffer.readInteger(as: UInt16.self) else { throw truncated(field, 2) }
        return v
    }

    mutating func u32(_ field: String) throws -> UInt32 {
        guard let v = buffer.readInteger(as: UInt32.self) else { throw truncated(field, 4) }
        return v
    }

    mutating func u64(_ field: String) throws -> UInt64 {
        guard let v = buffer.readInteger(as: UInt64.self) else { throw truncated(field, 8) }
        return v
    }

    mutating func bytes(_ count: Int, _ field: String) throws -> [UInt8] {
        guard count >= 0, count <= remaining, let b = buffer.readBytes(length: count) else {
            throw truncated(field, count)
        }
        return b
    }

    mutating func slice(_ count: Int, _ field: String) throws -> ByteBuffer {
        guard count >= 0, count <= remaining, let b = buffer.readSlice(length: count) else {
            throw truncated(field, count)
        }
        return b
    }

    /// u32 length + bytes, length checked against `max` (LIMIT_EXCEEDED) and the bytes present.
    mutating func bytes32(max: UInt32, _ field: String, code: ErrorCode = .limitExceeded) throws -> [UInt8] {
        let n = try u32("\(field) length")
        guard n <= max else { throw error(code, "'\(field)' length \(n) exceeds limit \(max)") }
        return try bytes(Int(n), field)
    }

    /// u32 length + bytes as a slice (no copy).
    mutating func slice32(max: UInt32, _ field: String, code: ErrorCode = .limitExceeded) throws -> ByteBuffer {
        let n = try u32("\(field) length")
        guard n <= max else { throw error(code, "'\(field)' length \(n) exceeds limit \(max)") }
        return try slice(Int(n), field)
    }

    /// u16 length + UTF-8 text of at most `max` bytes.
    mutating func string16(max: UInt16, _ field: String) throws -> String {
        let n = try u16("\(field) length")
        guard n <= max else { throw error(.limitExceeded, "'\(field)' length \(n) exceeds limit \(max)") }
        let raw = try bytes(Int(n), field)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw error(.invalidUTF8, "'\(field)' is not valid UTF-8")
        }
        return s
    }

    /// Presence byte of an optional field: 0 absent, 1 present, anything else INVALID_VALUE.
    mutating func presence(_ field: String) throws -> Bool {
        switch try u8("\(field) presence") {
        case 0: return false
        case 1: return true
        case let v: throw error(.invalidValue, "presence byte of '\(field)' is \(v), must be 0 or 1")
        }
    }

    mutating func participantID(_ field: String) throws -> ParticipantID {
        let n = try u8("\(field) length")
        guard n <= ParticipantID.maxLength else {
            throw error(.invalidValue, "'\(field)' length \(n) exceeds \(ParticipantID.maxLength)")
        }
        let raw = try bytes(Int(n), field)
        do {
            return try ParticipantID(utf8: raw)
        } catch let e as ProtocolError {
            throw error(e.code, "'\(field)': \(e.message)")
        }
    }

    mutating func messageID(_ field: String) throws -> MessageID {
        MessageID(uncheckedBytes: try bytes(16, field))
    }

    mutating func digest(_ field: String) throws -> SHA256Digest {
        SHA256Digest(uncheckedBytes: try bytes(32, field))
    }

    /// Throws TRAILING_BYTES if anything is left.
    func finish() throws {
        guard remaining == 0 else { throw error(.trailingBytes, "\(remaining) unexpected trailing bytes") }
    }
}

extension ByteBuffer {
    mutating func writeBytes32(_ bytes: some Collection<UInt8>) {
        writeInteger(UInt32(bytes.count))
        writeBytes(bytes)
    }

    mutating func writeBuffer32(_ buffer: ByteBuffer) {
        writeInteger(UInt32(buffer.readableBytes))
        writeImmutableBuffer(buffer)
    }

    /// Writes u16 length + UTF-8; text beyond 65535 bytes is cut at a character boundary (never traps).
    mutating func writeString16(_ string: String) {
        let utf8 = Array(string.truncatedUTF8(to: Int(UInt16.max)).utf8)
        writeInteger(UInt16(utf8.count))
        writeBytes(utf8)
    }

    mutating func writeParticipantID(_ id: ParticipantID) {
        let utf8 = id.rawValue.utf8
        writeInteger(UInt8(utf8.count))
        writeBytes(utf8)
    }

    mutating func writePresence(_ present: Bool) {
        writeInteger(present ? UInt8(1) : UInt8(0))
    }
}

/// The package's one hex coder, under the name this module's code and its `@testable` tests use.
typealias Hex = KlammerHex.Hex

extension String {
    /// The longest prefix (whole Unicode scalars) whose UTF-8 form has at most `maxBytes` bytes.
    func truncatedUTF8(to maxBytes: Int) -> String {
        if utf8.count <= maxBytes { return self }
        var scalars = String.UnicodeScalarView()
        var count = 0
        for scalar in unicodeScalars {
            let n = String(scalar).utf8.count
            if count + n > maxBytes { break }
            count += n
            scalars.append(scalar)
        }
        return String(scalars)
    }
}
