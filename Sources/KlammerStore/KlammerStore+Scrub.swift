import Foundation
import Glibc

/// Result of `KlammerStore.scrub()`.
public struct ScrubReport: Sendable {
    /// Segments read.
    public var segments = 0
    /// Records whose checksum was verified.
    public var records = 0
    /// Bytes of log read.
    public var logBytes: UInt64 = 0
    /// Blobs whose checksum was verified.
    public var blobs = 0
    /// Everything that failed verification (nothing is modified by scrub).
    public var problems: [CorruptionReport] = []
    /// True if no problem was found.
    public var isClean: Bool { problems.isEmpty }
}

extension KlammerStore {
    /// Verifies every segment header, every record checksum and every finished blob's checksum, without changing
    /// anything (exposed as `klammerctl store scrub`). The active segment is checked up to the last written byte.
    /// Runs on the calling thread; it reads the whole store.
    public func scrub() throws -> ScrubReport {
        var report = ScrubReport()
        let (segs, written) = cell.m.withLock { s in
            (s.segments.map { ($0.key, $0.value.handle) }.sorted { $0.0 < $1.0 }, writer.writtenEnd.withLock { $0 })
        }
        for (id, h) in segs {
            guard let size = try? io.fileSize(h.fd, path: h.path) else { continue }
            let end = id == written.0 ? min(size, written.1) : size
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(end), alignment: 16)
            defer { buf.deallocate() }
            let n = (try? io.pread(h.fd, buf, offset: 0, path: h.path)) ?? 0
            let rbuf = UnsafeRawBufferPointer(rebasing: buf[0..<n])
            report.segments += 1
            report.logBytes += UInt64(n)
            guard case .success(let hid) = SegmentFormat.validateHeader(rbuf), hid == id else {
                report.problems.append(
                    CorruptionReport(
                        file: h.path, offset: 0, length: UInt64(n),
                        reason: "segment header invalid", quarantinedAs: nil))
                continue
            }
            let r = SegmentFormat.scan(rbuf, segmentID: id) { _ in }
            report.records += r.records
            for bad in r.badRanges + (r.tail.map { [$0] } ?? []) {
                report.problems.append(
                    CorruptionReport(
                        file: h.path, offset: UInt64(bad.lowerBound),
                        length: UInt64(bad.count), reason: "record checksum mismatch",
                        quarantinedAs: nil))
            }
        }
        for name in (try? io.listDirectory(blobDirectory)) ?? [] where name.hasSuffix(".blob") {
            let path = blobDirectory + "/" + name
            report.blobs += 1
            if let p = verifyBlob(path) { report.problems.append(p) }
        }
        return report
    }

    /// Checks a blob file's footer and content checksum.
    func verifyBlob(_ path: String) -> CorruptionReport? {
        func bad(_ why: String) -> CorruptionReport {
            CorruptionReport(file: path, offset: 0, length: 0, reason: why, quarantinedAs: nil)
        }
        guard let fd = try? io.open(path, flags: O_RDONLY, mode: 0) else { return bad("cannot open") }
        defer { io.close(fd) }
        guard let size = try? io.fileSize(fd, path: path), size >= UInt64(BlobFormat.footerSize) else {
            return bad("blob shorter than its footer")
        }
        var footer = [UInt8](repeating: 0, count: BlobFormat.footerSize)
        let dataSize = size - UInt64(BlobFormat.footerSize)
        _ = try? footer.withUnsafeMutableBytes { try io.pread(fd, $0, offset: dataSize, path: path) }
        let ok = footer.withUnsafeBytes { b -> (UInt64, UInt32)? in
            guard b[0..<8].elementsEqual(BlobFormat.magic),
                CRC32C.update(0, UnsafeRawBufferPointer(rebasing: b[0..<28]))
                    == UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
            else { return nil }
            return (
                UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
            )
        }
        guard let (sz, crc) = ok, sz == dataSize else { return bad("blob footer invalid") }
        var c: UInt32 = 0
        var off: UInt64 = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while off < dataSize {
            let want = Int(min(UInt64(chunk.count), dataSize - off))
            let n =
                (try? chunk.withUnsafeMutableBytes {
                    try io.pread(fd, UnsafeMutableRawBufferPointer(rebasing: $0[0..<want]), offset: off, path: path)
                }) ?? 0
            if n <= 0 { return bad("blob read failed") }
            c = chunk.withUnsafeBytes { CRC32C.update(c, UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            off += UInt64(n)
        }
        return c == crc ? nil : bad("blob content CRC32C mismatch")
    }
}
