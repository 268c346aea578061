import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore

/// Receives the payload of the one delivery in progress into memory (bounded) or a file, hashing as it goes.
/// Not Sendable: owned by the client actor for the duration of one delivery.
final class PayloadSink {
    private let hasher = SHA256.Hasher()
    private var memory: [UInt8] = []
    private let maxMemory: Int
    private let file: FileHandle?
    private let path: String?
    private(set) var length: UInt64 = 0
    /// First failure (too large for memory, write error); later bytes are discarded.
    private(set) var failure: KlammerClientError?

    init(messageID: MessageID, declaredLength: UInt64, storage: ReceiveOptions.PayloadStorage) {
        switch storage {
        case .memory(let maxBytes):
            maxMemory = maxBytes
            file = nil
            path = nil
            if declaredLength > UInt64(maxBytes) {
                failure = KlammerClientError(.invalidArgument, "message \(messageID) has \(declaredLength) payload bytes, more than the in-memory limit of \(maxBytes); receive into a directory (ReceiveOptions.PayloadStorage.directory)")
            } else {
                memory.reserveCapacity(Int(declaredLength))
            }
        case .directory(let directory):
            maxMemory = 0
            let target = (directory as NSString).appendingPathComponent("\(messageID.hex).payload")
            path = target
            if FileManager.default.createFile(atPath: target, contents: nil, attributes: [.posixPermissions: 0o600]),
               let handle = FileHandle(forWritingAtPath: target) {
                file = handle
            } else {
                file = nil
                failure = KlammerClientError(.fileError, "cannot create \(target); check that the directory exists and is writable")
            }
        }
    }

    deinit { try? file?.close() }

    func write(_ buffer: ByteBuffer) {
        length += UInt64(buffer.readableBytes)
        guard failure == nil else { return }
        hasher.update(buffer.readableBytesView)
        if let file {
            do { try file.write(contentsOf: Data(buffer.readableBytesView)) } catch {
                failure = KlammerClientError(.fileError, "cannot write \(path ?? "the payload file"): \(error)")
            }
        } else {
            memory.append(contentsOf: buffer.readableBytesView)
            if memory.count > maxMemory {
                failure = KlammerClientError(.invalidArgument, "payload exceeds the in-memory limit of \(maxMemory) bytes")
                memory = []
            }
        }
    }

    /// Finishes: flushes the file, returns the payload and its digest.
    func finish() -> (payload: ReceivedMessage.Payload, digest: SHA256Digest, length: UInt64) {
        let digest = try! SHA256Digest(bytes: hasher.finalize())
        if let file, let path {
            do { try file.synchronize() } catch {
                if failure == nil { failure = KlammerClientError(.fileError, "cannot flush \(path): \(error)") }
            }
            try? file.close()
            return (.file(path), digest, length)
        }
        return (.bytes(memory), digest, length)
    }

    /// Removes a partial file after a failure.
    func discard() {
        if let path { try? FileManager.default.removeItem(atPath: path) }
    }
}
