/// Big-endian byte writing/reading for the broker's own small records (SPEC.md §7.4); bounds-checked reads.
struct BrokerByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) } }
    mutating func raw(_ b: [UInt8]) { bytes.append(contentsOf: b) }
    mutating func blob32(_ b: [UInt8]) { u32(UInt32(b.count)); bytes.append(contentsOf: b) }
    mutating func str8(_ s: String) { let b = Array(s.utf8); u8(UInt8(b.count)); bytes.append(contentsOf: b) }
}

/// Reads what `BrokerByteWriter` wrote; every read checks the remaining length first.
struct BrokerByteReader {
    struct Truncated: Error {}
    let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { offset == bytes.count }

    mutating func raw(_ n: Int) throws -> [UInt8] {
        guard n >= 0, bytes.count - offset >= n else { throw Truncated() }
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }
    mutating func u8() throws -> UInt8 { try raw(1)[0] }
    mutating func u16() throws -> UInt16 { try raw(2).reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u32() throws -> UInt32 { try raw(4).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func u64() throws -> UInt64 { try raw(8).reduce(0) { $0 << 8 | UInt64($1) } }
    mutating func blob32(max: Int) throws -> [UInt8] {
        let n = Int(try u32())
        guard n <= max else { throw Truncated() }
        return try raw(n)
    }
    mutating func str8() throws -> String {
        let n = Int(try u8())
        guard let s = String(validating: try raw(n), as: UTF8.self) else { throw Truncated() }
        return s
    }
}
