/// Little-endian encoder for record bodies.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i64(_ v: Int64) { u64(UInt64(bitPattern: v)) }
    /// String with a u16 length prefix (caller enforces the limit).
    mutating func str16(_ s: String) {
        var s = s
        s.withUTF8 { u in
            u16(UInt16(u.count))
            bytes.append(contentsOf: u)
        }
    }
    /// Byte array with a u32 length prefix.
    mutating func bytes32(_ b: [UInt8]) {
        u32(UInt32(b.count))
        bytes.append(contentsOf: b)
    }
}

/// Little-endian decoder over borrowed bytes. Every read is bounds-checked and throws on truncation.
struct ByteReader {
    let buf: UnsafeRawBufferPointer
    var pos: Int

    init(_ buf: UnsafeRawBufferPointer, at pos: Int = 0) {
        self.buf = buf
        self.pos = pos
    }

    struct Truncated: Error {}

    var remaining: Int { buf.count - pos }

    mutating func need(_ n: Int) throws(Truncated) {
        if n < 0 || pos + n > buf.count { throw Truncated() }
    }
    mutating func u8() throws(Truncated) -> UInt8 {
        try need(1); defer { pos += 1 }
        return buf[pos]
    }
    mutating func u16() throws(Truncated) -> UInt16 {
        try need(2); defer { pos += 2 }
        return UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt16.self))
    }
    mutating func u32() throws(Truncated) -> UInt32 {
        try need(4); defer { pos += 4 }
        return UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt32.self))
    }
    mutating func u64() throws(Truncated) -> UInt64 {
        try need(8); defer { pos += 8 }
        return UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt64.self))
    }
    mutating func i64() throws(Truncated) -> Int64 { Int64(bitPattern: try u64()) }
    mutating func str16() throws(Truncated) -> String {
        let n = Int(try u16())
        try need(n)
        defer { pos += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buf[pos..<pos + n]), as: UTF8.self)
    }
    mutating func bytes32() throws(Truncated) -> [UInt8] {
        let n = Int(try u32())
        try need(n)
        defer { pos += n }
        return [UInt8](UnsafeRawBufferPointer(rebasing: buf[pos..<pos + n]))
    }
    mutating func skipBytes32() throws(Truncated) {
        let n = Int(try u32())
        try need(n)
        pos += n
    }
}
