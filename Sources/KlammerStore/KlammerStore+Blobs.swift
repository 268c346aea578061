import Foundation
import Glibc

extension KlammerStore {
    /// Starts a streamed document upload. Write chunks, then `finish()` and append a message with `.blob(ref)`.
    public func beginBlob() throws -> BlobWriter {
        if let p = writer.poisonError { throw p }
        return try BlobWriter(
            io: io, id: UInt64.random(in: 1...UInt64.max), blobDirectory: blobDirectory,
            limit: config.maxBlobSize)
    }

    /// Opens a finished blob for streaming reads.
    public func openBlob(_ ref: BlobReference) throws -> BlobReader {
        try BlobReader(io: io, path: blobPath(ref.id), reference: ref)
    }

    func blobPath(_ id: UInt64) -> String { blobDirectory + "/" + BlobFormat.name(id) + ".blob" }

    func deleteBlobFile(_ id: UInt64) {
        try? io.unlink(blobPath(id))
    }

    /// On open: unfinished uploads are deleted (they were never confirmed); finished blobs no live message refers to
    /// are deleted once older than `blobAbandonTimeout` (an upload whose append never happened).
    func sweepBlobsOnOpen() {
        for name in (try? io.listDirectory(blobDirectory + "/tmp")) ?? [] {
            try? io.unlink(blobDirectory + "/tmp/" + name)
        }
        let referenced = cell.m.withLock { s in Set(s.messages.values.compactMap { $0.blob?.id }) }
        sweepFinished(referenced: referenced)
    }

    func sweepFinished(referenced: Set<UInt64>) {
        let cutoff = config.now().timeIntervalSince1970 - Double(config.blobAbandonTimeout.components.seconds)
        for name in (try? io.listDirectory(blobDirectory)) ?? [] where name.hasSuffix(".blob") {
            guard let id = UInt64(name.dropLast(5), radix: 16), !referenced.contains(id) else { continue }
            if let t = io.modificationTime(blobDirectory + "/" + name), t < cutoff {
                try? io.unlink(blobDirectory + "/" + name)
            }
        }
    }

    /// Deletes uploads idle for longer than `blobAbandonTimeout`.
    func sweepAbandonedUploads() {
        let cutoff = config.now().timeIntervalSince1970 - Double(config.blobAbandonTimeout.components.seconds)
        for name in (try? io.listDirectory(blobDirectory + "/tmp")) ?? [] {
            let p = blobDirectory + "/tmp/" + name
            if let t = io.modificationTime(p), t < cutoff { try? io.unlink(p) }
        }
    }
}
