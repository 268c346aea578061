/// Record types in the log (SPEC.md §2).
enum RecordType: UInt8 {
    case append = 1, carry = 2, ack = 3, attempt = 4, deadLetter = 5, expire = 6, purge = 7, replay = 8
    case tombstone = 9, footer = 10
}

/// Where a record lives: segment, offset of its header, total length including the header.
struct RecordLocation: Sendable, Hashable {
    var segmentID: UInt64
    var offset: UInt64
    var length: UInt32
}

/// Byte layout of segment files and records (SPEC.md §2).
enum SegmentFormat {
    static let headerSize = 48
    static let segmentMagic: [UInt8] = Array("KLAMSEG1".utf8)
    static let version: UInt16 = 1
    /// "KRC1" as little-endian u32 at the start of every record.
    static let recordMagic: UInt32 = 0x3143_524B
    static let recordHeaderSize = 29
    /// Upper bound accepted by the scanner for one record body.
    static let maxRecordBody = 64 << 20

    static func fileName(_ segmentID: UInt64) -> String {
        let digits = String(segmentID)
        return "seg-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".klog"
    }

    static func parseFileName(_ name: String) -> UInt64? {
        guard name.hasPrefix("seg-"), name.hasSuffix(".klog") else { return nil }
        let digits = name.dropFirst(4).dropLast(5)
        guard digits.count == 20 else { return nil }
        return UInt64(digits)
    }

    static func encodeHeader(segmentID: UInt64, createdMs: Int64) -> [UInt8] {
        var w = ByteWriter(capacity: headerSize)
        w.bytes.append(contentsOf: segmentMagic)
        w.u16(version)
        w.u16(UInt16(headerSize))
        w.u32(0)
        w.u64(segmentID)
        w.i64(createdMs)
        w.bytes.append(contentsOf: [UInt8](repeating: 0, count: 12))
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Returns the segment id if the header is intact, else a reason.
    static func validateHeader(_ buf: UnsafeRawBufferPointer) -> Result<UInt64, HeaderProblem> {
        guard buf.count >= headerSize else { return .failure(.incomplete) }
        let crc = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: 44, as: UInt32.self))
        guard CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buf[0..<44])) == crc,
            buf[0..<8].elementsEqual(segmentMagic)
        else { return .failure(.badChecksum) }
        let version = UInt16(littleEndian: buf.loadUnaligned(fromByteOffset: 8, as: UInt16.self))
        guard version == Self.version else { return .failure(.unsupportedVersion(version)) }
        return .success(UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }

    enum HeaderProblem: Error, CustomStringConvertible {
        case incomplete, badChecksum, unsupportedVersion(UInt16)
        var description: String {
            switch self {
            case .incomplete: return "segment header incomplete (crash while creating the segment?)"
            case .badChecksum: return "segment header magic/checksum invalid (zero-filled or overwritten file)"
            case .unsupportedVersion(let v): return "segment format version \(v) not supported"
            }
        }
    }

    /// Appends one record (header + body) to `out`. `bodyCRC` is CRC32C(body).
    /// The stored CRC is CRC32C(body ‖ len ‖ segmentID ‖ seq ‖ type): it covers length, position and payload.
    static func encodeRecord(
        into out: inout [UInt8], segmentID: UInt64, seq: UInt64, type: RecordType,
        body: [UInt8], bodyCRC: UInt32
    ) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: recordHeaderSize))
        out.withUnsafeMutableBytes { o in
            let h = UnsafeMutableRawBufferPointer(rebasing: o[start..<(start + recordHeaderSize)])
            h.storeBytes(of: recordMagic.littleEndian, toByteOffset: 0, as: UInt32.self)
            h.storeBytes(of: UInt32(body.count).littleEndian, toByteOffset: 4, as: UInt32.self)
            h.storeBytes(of: segmentID.littleEndian, toByteOffset: 12, as: UInt64.self)
            h.storeBytes(of: seq.littleEndian, toByteOffset: 20, as: UInt64.self)
            h[28] = type.rawValue
            var crc = CRC32C.update(bodyCRC, UnsafeRawBufferPointer(rebasing: h[4..<8]))
            crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: h[12..<29]))
            h.storeBytes(of: crc.littleEndian, toByteOffset: 8, as: UInt32.self)
        }
        out.append(contentsOf: body)
    }

    /// A record found by the scanner.
    struct Scanned {
        var offset: Int
        var length: Int
        var seq: UInt64
        var type: RecordType
        var body: UnsafeRawBufferPointer
    }

    /// Validates the record at `pos` (magic, bounds, segment id, checksum, type).
    static func record(in buf: UnsafeRawBufferPointer, at pos: Int, segmentID: UInt64) -> Scanned? {
        guard pos + recordHeaderSize <= buf.count,
            UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos, as: UInt32.self)) == recordMagic
        else { return nil }
        let len = Int(UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 4, as: UInt32.self)))
        guard len <= maxRecordBody, pos + recordHeaderSize + len <= buf.count else { return nil }
        let seg = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 12, as: UInt64.self))
        guard seg == segmentID else { return nil }
        let stored = UInt32(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 8, as: UInt32.self))
        let body = UnsafeRawBufferPointer(rebasing: buf[(pos + recordHeaderSize)..<(pos + recordHeaderSize + len)])
        var crc = CRC32C.update(0, body)
        crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: buf[(pos + 4)..<(pos + 8)]))
        crc = CRC32C.update(crc, UnsafeRawBufferPointer(rebasing: buf[(pos + 12)..<(pos + 29)]))
        guard crc == stored, let type = RecordType(rawValue: buf[pos + 28]) else { return nil }
        let seq = UInt64(littleEndian: buf.loadUnaligned(fromByteOffset: pos + 20, as: UInt64.self))
        return Scanned(offset: pos, length: recordHeaderSize + len, seq: seq, type: type, body: body)
    }

    /// Result of scanning one segment's bytes.
    struct ScanResult {
        /// End of the last valid record (or of the footer).
        var validEnd: Int
        /// Ranges that failed validation but are followed by valid records (mid-log corruption).
        var badRanges: [Range<Int>] = []
        /// Invalid bytes after the last valid record, if any.
        var tail: Range<Int>?
        var sealed = false
        var records = 0
    }

    /// Scans records after the header, resyncing past bad ranges by searching for the next valid record header.
    static func scan(_ buf: UnsafeRawBufferPointer, segmentID: UInt64, visit: (Scanned) -> Void) -> ScanResult {
        var result = ScanResult(validEnd: headerSize)
        var pos = headerSize
        while pos < buf.count {
            if let r = record(in: buf, at: pos, segmentID: segmentID) {
                visit(r)
                result.records += 1
                pos += r.length
                result.validEnd = pos
                if r.type == .footer {
                    result.sealed = true
                    if pos < buf.count { result.tail = pos..<buf.count }
                    return result
                }
                continue
            }
            // Resync: next offset with the record magic that validates completely.
            var q = pos + 1
            var found: Int?
            while q + recordHeaderSize <= buf.count {
                if buf[q] == 0x4B, record(in: buf, at: q, segmentID: segmentID) != nil { found = q; break }
                q += 1
            }
            if let found {
                result.badRanges.append(pos..<found)
                pos = found
            } else {
                result.tail = pos..<buf.count
                return result
            }
        }
        return result
    }
}
