import Glibc

/// Streams a blob in chunks and verifies its CRC32C when the end is reached. Not thread-safe: use from one task.
public final class BlobReader {
    let io: any FileIO
    let path: String
    let fd: Int32
    /// The blob being read.
    public let reference: BlobReference
    var offset: UInt64 = 0
    var crc: UInt32 = 0

    init(io: any FileIO, path: String, reference: BlobReference) throws {
        self.io = io
        self.path = path
        self.reference = reference
        do {
            fd = try io.open(path, flags: O_RDONLY, mode: 0)
        } catch {
            throw StoreError(.notFound, "blob \(reference.id) cannot be opened: \(error.reason)", file: path)
        }
        let size = (try? io.fileSize(fd, path: path)) ?? 0
        if size != reference.size + UInt64(BlobFormat.footerSize) {
            io.close(fd)
            throw StoreError(.corrupt, "blob has \(size) bytes, expected \(reference.size) + footer", file: path)
        }
    }

    deinit { io.close(fd) }

    /// The next chunk of at most `maxLength` bytes, or nil at the end. Throws `.corrupt` at the end if the content
    /// does not match its checksum.
    public func next(maxLength: Int = 1 << 20) throws -> [UInt8]? {
        let left = reference.size - offset
        if left == 0 {
            if crc != reference.crc32c {
                throw StoreError(.corrupt, "blob content failed its CRC32C check", file: path)
            }
            return nil
        }
        var chunk = [UInt8](repeating: 0, count: Int(min(UInt64(maxLength), left)))
        let n: Int
        do {
            n = try chunk.withUnsafeMutableBytes { try io.pread(fd, $0, offset: offset, path: path) }
        } catch {
            throw StoreError(.io, "\(error)", file: path, offset: offset)
        }
        if n != chunk.count { throw StoreError(.corrupt, "blob shorter than expected", file: path, offset: offset) }
        crc = chunk.withUnsafeBytes { CRC32C.update(crc, $0) }
        offset += UInt64(n)
        return chunk
    }
}
