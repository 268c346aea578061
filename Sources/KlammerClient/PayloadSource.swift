import Foundation
import KlammerCrypto
public import KlammerProtocol

/// The payload of a message to send: bytes in memory or a file read in chunks (never loaded whole).
public enum PayloadSource: Hashable, Sendable {
    /// Bytes in memory.
    case bytes([UInt8])
    /// A regular file, read twice: once to hash, once to send. It must not change in between (the broker would
    /// refuse with DIGEST_MISMATCH).
    case file(String)

    /// Bytes read from a file per call.
    static let readSize = 256 * 1024

    /// Length and SHA-256 of the payload (streams a file).
    public func measure() throws(KlammerClientError) -> (length: UInt64, digest: SHA256Digest) {
        let hasher = SHA256.Hasher()
        var length: UInt64 = 0
        try forEachChunk(from: 0, maxChunk: Self.readSize) { chunk in
            hasher.update(chunk)
            length += UInt64(chunk.count)
        }
        // SHA-256 always yields 32 bytes.
        return (length, SHA256Digest(hashOutput: hasher.finalize()))
    }

    /// Calls `body` with consecutive chunks of at most `maxChunk` bytes starting at `offset`.
    func forEachChunk(from offset: UInt64, maxChunk: Int, _ body: ([UInt8]) throws(KlammerClientError) -> Void) throws(KlammerClientError) {
        let reader = try openReader(from: offset)
        while let chunk = try reader.next(maxChunk) { try body(chunk) }
    }

    /// A sequential reader starting at `offset`.
    func openReader(from offset: UInt64) throws(KlammerClientError) -> PayloadReader {
        switch self {
        case .bytes(let bytes):
            return PayloadReader(memory: bytes, offset: Int(min(offset, UInt64(bytes.count))))
        case .file(let path):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let handle = FileHandle(forReadingAtPath: path)
            else {
                throw KlammerClientError(.fileError, "cannot read \(path): no such regular file or no permission")
            }
            do { try handle.seek(toOffset: offset) } catch {
                throw KlammerClientError(.fileError, "cannot seek to byte \(offset) of \(path): \(error)")
            }
            return PayloadReader(file: handle, path: path)
        }
    }
}

/// Reads a payload sequentially. Not Sendable: owned by one upload.
final class PayloadReader {
    private let memory: [UInt8]
    private var position: Int
    private let file: FileHandle?
    private let path: String

    init(memory: [UInt8], offset: Int) {
        self.memory = memory
        self.position = offset
        self.file = nil
        self.path = "(memory)"
    }

    init(file: FileHandle, path: String) {
        self.memory = []
        self.position = 0
        self.file = file
        self.path = path
    }

    deinit { try? file?.close() }

    /// The next chunk of at most `max` bytes, or nil at the end.
    func next(_ max: Int) throws(KlammerClientError) -> [UInt8]? {
        if let file {
            let data: Data?
            do { data = try file.read(upToCount: max) } catch {
                throw KlammerClientError(.fileError, "cannot read \(path): \(error)")
            }
            guard let data, !data.isEmpty else { return nil }
            return [UInt8](data)
        }
        guard position < memory.count else { return nil }
        let end = min(memory.count, position + max)
        defer { position = end }
        return Array(memory[position..<end])
    }
}
