internal import CKlammerCRC32C

/// CRC32C (Castagnoli, reflected polynomial 0x82F63B78).
///
/// Used for every record, segment header and blob in the store, so blob ingest and recovery speed depend on it:
/// on x86-64 with SSE4.2 the CPU's CRC32 instruction does it (C target `CKlammerCRC32C`, several GB/s);
/// elsewhere a table-driven slicing-by-8 loop consumes 8 bytes per step with eight 256-entry tables.
public enum CRC32C {
    /// The eight slicing tables, 8 × 256 entries, flattened.
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            var c = t[i]
            for k in 1..<8 {
                c = t[Int(c & 0xFF)] ^ (c >> 8)
                t[k * 256 + i] = c
            }
        }
        return t
    }()

    /// Continues a CRC over `buffer`. Start with `crc = 0`; the result of one call can be fed into the next.
    @inlinable
    public static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        return _update(crc, buffer)
    }

    /// CRC32C of a byte array.
    public static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { _update(0, $0) }
    }

    /// Whether the CPU's CRC32 instruction is used (decided once per process).
    static let usesHardware = klammer_crc32c_hw_available() == 1

    @usableFromInline
    static func _update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return crc }
        if usesHardware { return klammer_crc32c_hw(crc, base, buffer.count) }
        return _updateTables(crc, buffer)
    }

    /// The portable path (also the reference the hardware path is tested against).
    static func _updateTables(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard var p = buffer.baseAddress, buffer.count > 0 else { return crc }
        var n = buffer.count
        var c = ~crc
        return tables.withUnsafeBufferPointer { tp -> UInt32 in
            let t = tp.baseAddress!
            // Align to 8 bytes.
            while n > 0 && (UInt(bitPattern: p) & 7) != 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1; n -= 1
            }
            while n >= 8 {
                let word = UInt64(littleEndian: p.load(as: UInt64.self))
                let lo = UInt32(truncatingIfNeeded: word) ^ c
                let hi = UInt32(truncatingIfNeeded: word >> 32)
                c =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                p += 8; n -= 8
            }
            while n > 0 {
                c = t[Int((c ^ UInt32(p.load(as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                p += 1; n -= 1
            }
            return ~c
        }
    }
}
