import Foundation
import Glibc

/// Blob file layout helpers (SPEC.md §2.7): content bytes, then a 32-byte footer.
enum BlobFormat {
    static let footerSize = 32
    static let magic: [UInt8] = Array("KLBLOBF1".utf8)

    static func footer(id: UInt64, size: UInt64, crc: UInt32) -> [UInt8] {
        var w = ByteWriter(capacity: footerSize)
        w.bytes.append(contentsOf: magic)
        w.u64(size)
        w.u32(crc)
        w.u64(id)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    static func name(_ id: UInt64) -> String {
        let hex = String(id, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// Streams one large document to disk in chunks (memory stays bounded by the chunk size). Not thread-safe: use it
/// from one task. `finish` checksums, fsyncs and renames it into place; an unfinished upload is never delivered and
/// is deleted by `abort`, on deinit, after `blobAbandonTimeout`, and when the store opens.
public final class BlobWriter {
    let io: any FileIO
    let id: UInt64
    let tmpPath: String
    let finalPath: String
    let blobDirectory: String
    let limit: UInt64
    var fd: Int32
    var size: UInt64 = 0
    var crc: UInt32 = 0
    var done = false

    init(io: any FileIO, id: UInt64, blobDirectory: String, limit: UInt64) throws {
        self.io = io
        self.id = id
        self.blobDirectory = blobDirectory
        self.limit = limit
        tmpPath = blobDirectory + "/tmp/" + BlobFormat.name(id) + ".part"
        finalPath = blobDirectory + "/" + BlobFormat.name(id) + ".blob"
        do {
            fd = try io.open(tmpPath, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        } catch {
            throw StoreError(.io, "cannot create blob upload: \(error.reason)", file: tmpPath)
        }
    }

    /// Appends a chunk. Throws `.tooLarge` past `maxBlobSize` (the upload is aborted) or `.diskFull`.
    public func write(_ chunk: [UInt8]) throws {
        guard !done else { throw StoreError(.invalidArgument, "blob upload already finished or aborted") }
        if size + UInt64(chunk.count) > limit {
            abort()
            throw StoreError.tooLarge("document", Int(size) + chunk.count, Int(limit))
        }
        do {
            try chunk.withUnsafeBytes { try io.pwrite(fd, $0, offset: size, path: tmpPath) }
        } catch {
            abort()
            throw Self.map(error, tmpPath)
        }
        crc = chunk.withUnsafeBytes { CRC32C.update(crc, $0) }
        size += UInt64(chunk.count)
    }

    /// Makes every byte written so far durable (fdatasync of the part file), so a resumed upload is told an offset
    /// the disk really holds (SPEC.md §4.8). The upload stays open for more writes.
    public func sync() throws {
        guard !done else { throw StoreError(.invalidArgument, "blob upload already finished or aborted") }
        do { try io.fdatasync(fd, path: tmpPath) } catch {
            abort()
            throw Self.map(error, tmpPath)
        }
    }

    /// Bytes written so far.
    public var writtenBytes: UInt64 { size }

    /// Completes the upload: footer, fdatasync, rename into place, directory fsync. Returns the reference to put in
    /// `MessageRecord.payload`. Pass the CRC32C the sender computed to have it checked here as well.
    public func finish(expectedCRC32C: UInt32? = nil) throws -> BlobReference {
        guard !done else { throw StoreError(.invalidArgument, "blob upload already finished or aborted") }
        if let expectedCRC32C, expectedCRC32C != crc {
            abort()
            throw StoreError(.corrupt, "uploaded document checksum \(crc) does not match the expected \(expectedCRC32C); upload again")
        }
        do {
            let footer = BlobFormat.footer(id: id, size: size, crc: crc)
            try footer.withUnsafeBytes { try io.pwrite(fd, $0, offset: size, path: tmpPath) }
            try io.fdatasync(fd, path: tmpPath)
            io.close(fd)
            fd = -1
            try io.rename(tmpPath, finalPath)
            // The rename must be durable before the message referring to it is confirmed. The disappearance from
            // tmp/ need not be: a stale tmp entry after a crash is swept on open.
            try io.fsyncDirectory(blobDirectory)
        } catch {
            abort()
            throw Self.map(error, tmpPath)
        }
        done = true
        return BlobReference(id: id, size: size, crc32c: crc)
    }

    /// Discards the upload.
    public func abort() {
        guard !done else { return }
        done = true
        if fd >= 0 { io.close(fd); fd = -1 }
        try? io.unlink(tmpPath)
    }

    deinit { abort() }

    static func map(_ error: any Error, _ path: String) -> StoreError {
        if let e = error as? FileIOError {
            if e.errno == ENOSPC {
                return StoreError(.diskFull, "no space left writing the document; free disk space and upload again", file: path)
            }
            return StoreError(.io, "\(e.operation) failed: \(e.reason)", file: e.path)
        }
        return StoreError(.io, "\(error)", file: path)
    }
}
