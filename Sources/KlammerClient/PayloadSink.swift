import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore

/// Receives the payload of the one delivery in progress into memory (bounded) or a file, hashing as it goes.
/// Not Sendable: owned by the client actor for the duration of one delivery.
///
/// In a directory the bytes go to `<message id>.payload.part` and are renamed to `<message id>.payload` when the
/// delivery is complete. A part file left by a cut connection is the resume point of the next FETCH (SPEC.md §4.8,
/// ``ReceiveOptions/resumePoint(in:)``): a delivery that starts at offset k > 0 keeps its first k bytes (and hashes
/// them again, so the digest still covers the whole payload) and appends the rest.
final class PayloadSink {
    private let hasher = SHA256.Hasher()
    private var memory: [UInt8] = []
    private let maxMemory: Int
    private var file: FileHandle?
    private let path: String?
    private let partPath: String?
    private(set) var length: UInt64 = 0
    /// First failure (too large for memory, write error); later bytes are discarded.
    private(set) var failure: KlammerClientError?

    /// Suffix of a partially received payload file.
    static let partSuffix = ".payload.part"

    init(messageID: MessageID, declaredLength: UInt64, storage: ReceiveOptions.PayloadStorage, offset: UInt64 = 0) {
        switch storage {
        case .memory(let maxBytes):
            maxMemory = maxBytes
            file = nil
            path = nil
            partPath = nil
            if offset > 0 {
                failure = KlammerClientError(
                    .invalidArgument,
                    "message \(messageID) was resumed at byte \(offset), but payloads kept in memory cannot be resumed; receive into a directory"
                )
            } else if declaredLength > UInt64(maxBytes) {
                failure = KlammerClientError(
                    .invalidArgument,
                    "message \(messageID) has \(declaredLength) payload bytes, more than the in-memory limit of \(maxBytes); receive into a directory (ReceiveOptions.PayloadStorage.directory)"
                )
            } else {
                memory.reserveCapacity(Int(declaredLength))
            }
        case .directory(let directory):
            maxMemory = 0
            let target = (directory as NSString).appendingPathComponent("\(messageID.hex).payload")
            let part = (directory as NSString).appendingPathComponent(messageID.hex + Self.partSuffix)
            path = target
            partPath = part
            if offset > 0 {
                openForResume(part, offset: offset)
            } else if FileManager.default.createFile(atPath: part, contents: nil, attributes: [.posixPermissions: 0o600]),
                let handle = FileHandle(forWritingAtPath: part)
            {
                file = handle
            } else {
                failure = KlammerClientError(.fileError, "cannot create \(part); check that the directory exists and is writable")
            }
        }
    }

    /// Keeps the first `offset` bytes of an existing part file: hashes them (streamed, 1 MiB at a time), cuts
    /// whatever lies beyond and appends from there.
    private func openForResume(_ part: String, offset: UInt64) {
        guard let reader = FileHandle(forReadingAtPath: part) else {
            failure = KlammerClientError(.fileError, "cannot resume: \(part) is missing (the broker was asked to resume at byte \(offset))")
            return
        }
        defer { try? reader.close() }
        var remaining = offset
        do {
            while remaining > 0 {
                let piece = try reader.read(upToCount: Int(min(remaining, 1 << 20))) ?? Data()
                guard !piece.isEmpty else {
                    failure = KlammerClientError(.fileError, "cannot resume: \(part) holds fewer than \(offset) bytes")
                    return
                }
                hasher.update(piece)
                remaining -= UInt64(piece.count)
            }
            guard let handle = FileHandle(forWritingAtPath: part) else {
                failure = KlammerClientError(.fileError, "cannot open \(part) for writing")
                return
            }
            try handle.truncate(atOffset: offset)
            try handle.seekToEnd()
            file = handle
            length = offset
        } catch {
            failure = KlammerClientError(.fileError, "cannot resume into \(part): \(error)")
        }
    }

    deinit { try? file?.close() }

    func write(_ buffer: ByteBuffer) {
        length += UInt64(buffer.readableBytes)
        guard failure == nil else { return }
        hasher.update(buffer.readableBytesView)
        if let file {
            do { try file.write(contentsOf: Data(buffer.readableBytesView)) } catch {
                failure = KlammerClientError(.fileError, "cannot write \(partPath ?? "the payload file"): \(error)")
            }
        } else {
            memory.append(contentsOf: buffer.readableBytesView)
            if memory.count > maxMemory {
                failure = KlammerClientError(.invalidArgument, "payload exceeds the in-memory limit of \(maxMemory) bytes")
                memory = []
            }
        }
    }

    /// Finishes: flushes the file and moves it to its final name, returns the payload and its digest.
    func finish() -> (payload: ReceivedMessage.Payload, digest: SHA256Digest, length: UInt64) {
        let digest = SHA256Digest(hashOutput: hasher.finalize())
        if let path, let partPath {
            if let file {
                do { try file.synchronize() } catch {
                    if failure == nil { failure = KlammerClientError(.fileError, "cannot flush \(partPath): \(error)") }
                }
                try? file.close()
                self.file = nil
            }
            if failure == nil {
                try? FileManager.default.removeItem(atPath: path)
                do { try FileManager.default.moveItem(atPath: partPath, toPath: path) } catch {
                    failure = KlammerClientError(.fileError, "cannot rename \(partPath) to \(path): \(error)")
                }
            }
            return (.file(path), digest, length)
        }
        return (.bytes(memory), digest, length)
    }

    /// The connection was cut in the middle: the part file stays (flushed) so the next FETCH can resume it.
    func keepForResume() {
        guard let file else { return }
        try? file.synchronize()
        try? file.close()
        self.file = nil
    }

    /// Removes the payload (part or final file) after a failure.
    func discard() {
        try? file?.close()
        file = nil
        if let partPath { try? FileManager.default.removeItem(atPath: partPath) }
        if let path { try? FileManager.default.removeItem(atPath: path) }
    }
}
