/// Big-endian byte writing/reading for the broker's own small records (SPEC.md §7.4); bounds-checked reads.
struct BrokerByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bigEndian(v) }
    mutating func u32(_ v: UInt32) { bigEndian(v) }
    mutating func u64(_ v: UInt64) { bigEndian(v) }
    private mutating func bigEndian(_ v: some FixedWidthInteger) { withUnsafeBytes(of: v.bigEndian) { bytes.append(contentsOf: $0) } }
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
    mutating func u16() throws -> UInt16 { Self.bigEndian(try raw(2)) }
    mutating func u32() throws -> UInt32 { Self.bigEndian(try raw(4)) }
    mutating func u64() throws -> UInt64 { Self.bigEndian(try raw(8)) }

    /// The big-endian integer `bytes` spell (the broker's one decoder of its big-endian fields; the caller passes
    /// exactly `T`'s width).
    static func bigEndian<T: FixedWidthInteger & UnsignedInteger>(_ bytes: some Sequence<UInt8>, as _: T.Type = T.self) -> T {
        bytes.reduce(0) { $0 << 8 | T($1) }
    }
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
