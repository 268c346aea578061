import Foundation
import KlammerProtocol
import KlammerStore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The routing slip's durable storage (SPEC.md §7.4): an append-only file `receipts.klog` of CRC32C-framed records,
/// one per receipt, fsynced before the receipt is released; replayed into an in-memory index on open. A torn or
/// damaged tail is copied to `receipts.klog.<ms>.bad` and cut off.
final class ReceiptLog: Sendable {
    static let magic: UInt32 = 0x4B52_4C31 // "KRL1"
    static let bodyVersion: UInt8 = 1
    /// Largest record body (a receipt with two signatures plus up to 4096 recipient ids fits easily).
    static let maxBodyBytes = 1 << 20
    /// Most receipts kept per message; further ones are still published live but not recorded.
    static let maxEntriesPerMessage = 4096
    /// Most bytes written (and fsynced) in one group commit.
    static let maxBatchBytes = 4 << 20

    struct Slip: Sendable {
        var sender: ParticipantID
        var clientMessageID: String
        var recipients: [ParticipantID]
        var receipts: [SignedReceipt]
    }

    /// A receipt waiting for the next group commit.
    struct Pending: Sendable {
        var frame: [UInt8]
        var receipt: SignedReceipt
        var storeID: UInt64
        var clientMessageID: String
        var recipients: [ParticipantID]
        var continuation: CheckedContinuation<Void, any Error>
    }

    struct State: Sendable {
        var fd: Int32
        var poisoned = false
        var pending: [Pending] = []
        var drainScheduled = false
        var slips: [MessageID: Slip] = [:]
        var byClientID: [String: MessageID] = [:]
        var byStoreID: [UInt64: MessageID] = [:]
        var storeIDs: [MessageID: UInt64] = [:]
    }

    let path: String
    let limits: ProtocolLimits
    let state: Mutex<State>
    /// The single writer: appends and close run here, in order.
    let queue = DispatchQueue(label: "klammer.broker.receipt-log")

    init(directory: String, limits: ProtocolLimits) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("receipts.klog")
        self.limits = limits
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BrokerError(.io, "cannot open the receipt log \(path): \(String(cString: strerror(errno))); check the directory's permissions")
        }
        var s = State(fd: fd)
        do { try Self.replay(&s, path: path, limits: limits) } catch {
            closeDescriptor(fd)
            throw error
        }
        state = Mutex(s)
    }

    /// Closes the file after all queued writes.
    func close() {
        queue.sync {
            state.withLock { s in
                if s.fd >= 0 { closeDescriptor(s.fd); s.fd = -1 }
            }
        }
    }

    static func dedupeKey(sender: ParticipantID, clientMessageID: String) -> String {
        sender.rawValue + "\u{0}" + clientMessageID
    }

    /// Appends `receipt` durably (write + fsync) unless the identical receipt is already recorded.
    /// `storeID`/`clientMessageID`/`recipients` are needed for `accepted` receipts (they open the slip; the store id
    /// maps store events back to the message).
    func record(_ receipt: SignedReceipt, storeID: UInt64, clientMessageID: String, recipients: [ParticipantID]) async throws {
        let encoded = receipt.encodedBytes
        var body = BrokerByteWriter()
        body.u8(Self.bodyVersion)
        body.blob32(encoded)
        body.u64(storeID)
        body.str8(clientMessageID)
        body.u16(UInt16(recipients.count))
        for r in recipients { body.str8(r.rawValue) }
        guard body.bytes.count <= Self.maxBodyBytes else {
            throw ProtocolError(.internalError, "receipt record of \(body.bytes.count) bytes exceeds the receipt log limit")
        }
        var frame = BrokerByteWriter()
        frame.u32(Self.magic)
        frame.u32(UInt32(body.bytes.count))
        frame.u32(CRC32C.checksum(body.bytes))
        frame.raw(body.bytes)
        let bytes = frame.bytes
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let entry = Pending(frame: bytes, receipt: receipt, storeID: storeID, clientMessageID: clientMessageID,
                                recipients: recipients, continuation: cont)
            let schedule = state.withLock { s -> Bool in
                s.pending.append(entry)
                if s.drainScheduled { return false }
                s.drainScheduled = true
                return true
            }
            if schedule { queue.async { self.drain() } }
        }
    }

    /// Group commit on `queue` (the single writer, so the end offset cannot move between `lseek` and `pwrite`):
    /// takes everything queued (up to `maxBatchBytes`), writes it with one `pwrite`, one `fsync`, then updates the
    /// index and resumes the callers. Index readers never wait for an fsync.
    private func drain() {
        while true {
            enum Step { case done, failed([Pending], ProtocolError), write(Int32, [Pending], [Pending]) }
            let step: Step = state.withLock { s in
                guard !s.pending.isEmpty else { s.drainScheduled = false; return .done }
                var take = 0, bytes = 0
                while take < s.pending.count, take == 0 || bytes + s.pending[take].frame.count <= Self.maxBatchBytes {
                    bytes += s.pending[take].frame.count
                    take += 1
                }
                let batch = Array(s.pending[..<take])
                s.pending.removeFirst(take)
                guard s.fd >= 0 else { return .failed(batch, ProtocolError(.storageUnavailable, "the receipt log is closed")) }
                guard !s.poisoned else {
                    return .failed(batch, ProtocolError(.storageUnavailable, "an earlier write to the receipt log \(path) failed; the broker must be restarted"))
                }
                // Already recorded (or over the per-message bound): nothing to write, just confirm.
                var write: [Pending] = [], skip: [Pending] = []
                for p in batch {
                    let id = p.receipt.receipt.messageID
                    let known = s.slips[id]?.receipts ?? []
                    let inBatch = write.contains { $0.receipt == p.receipt }
                    if inBatch || known.contains(p.receipt) || known.count >= Self.maxEntriesPerMessage { skip.append(p) } else { write.append(p) }
                }
                return .write(s.fd, write, skip)
            }
            switch step {
            case .done:
                return
            case .failed(let batch, let error):
                for p in batch { p.continuation.resume(throwing: error) }
            case .write(let fd, let write, let skip):
                if let error = append(write.flatMap(\.frame), to: fd) {
                    for p in write + skip { p.continuation.resume(throwing: error) }
                    continue
                }
                state.withLock { s in
                    for p in write { Self.apply(&s, p.receipt, storeID: p.storeID, clientMessageID: p.clientMessageID, recipients: p.recipients) }
                }
                for p in write + skip { p.continuation.resume() }
            }
        }
    }

    /// Appends `bytes` at the end of the file and fsyncs; poisons the log on failure.
    private func append(_ bytes: [UInt8], to fd: Int32) -> ProtocolError? {
        if bytes.isEmpty { return nil }
        let end = lseek(fd, 0, SEEK_END)
        var written = 0
        let ok = end >= 0 && bytes.withUnsafeBytes { buf -> Bool in
            while written < buf.count {
                let n = pwrite(fd, buf.baseAddress! + written, buf.count - written, off_t(end) + off_t(written))
                if n < 0 { if errno == EINTR { continue }; return false }
                written += n
            }
            return true
        }
        guard ok, fsync(fd) == 0 else {
            let code = errno
            // A failed fsync is never retried (the page cache state is unknown): refuse all later writes.
            state.withLock { $0.poisoned = true }
            return ProtocolError(code == ENOSPC ? .storageFull : .storageUnavailable,
                                 "cannot write the receipt log \(path): \(String(cString: strerror(code))); the broker must be restarted")
        }
        return nil
    }

    func slip(_ id: MessageID) -> Slip? { state.withLock { $0.slips[id] } }

    func messageID(sender: ParticipantID, clientMessageID: String) -> MessageID? {
        state.withLock { $0.byClientID[Self.dedupeKey(sender: sender, clientMessageID: clientMessageID)] }
    }

    /// The store id of a message (from its `accepted` record).
    func storeID(of messageID: MessageID) -> UInt64? { state.withLock { $0.storeIDs[messageID] } }

    /// The message a store id belongs to (from its `accepted` record).
    func messageID(storeID: UInt64) -> MessageID? { state.withLock { $0.byStoreID[storeID] } }

    private static func apply(_ s: inout State, _ r: SignedReceipt, storeID: UInt64, clientMessageID: String, recipients: [ParticipantID]) {
        let id = r.receipt.messageID
        if s.slips[id] == nil {
            s.slips[id] = Slip(sender: r.receipt.sender, clientMessageID: clientMessageID, recipients: recipients, receipts: [])
        }
        if r.receipt.kind == .accepted {
            s.slips[id]!.clientMessageID = clientMessageID
            s.slips[id]!.recipients = recipients
            s.byClientID[dedupeKey(sender: r.receipt.sender, clientMessageID: clientMessageID)] = id
            s.byStoreID[storeID] = id
            s.storeIDs[id] = storeID
        }
        s.slips[id]!.receipts.append(r)
    }

    private static func replay(_ s: inout State, path: String, limits: ProtocolLimits) throws {
        let data: [UInt8]
        do { data = Array(try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw BrokerError(.io, "cannot read the receipt log \(path): \(error)")
        }
        var offset = 0
        while offset < data.count {
            guard let (body, next) = frame(in: data, at: offset),
                  let parsed = try? parseBody(body, limits: limits) else { break }
            apply(&s, parsed.receipt, storeID: parsed.storeID, clientMessageID: parsed.clientID, recipients: parsed.recipients)
            offset = next
        }
        if offset < data.count {
            let bad = path + ".\(Int(Date().timeIntervalSince1970 * 1000)).bad"
            try? Data(data[offset...]).write(to: URL(fileURLWithPath: bad))
            guard ftruncate(s.fd, off_t(offset)) == 0, fsync(s.fd) == 0 else {
                throw BrokerError(.io, "cannot cut the damaged tail of the receipt log \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    private static func frame(in data: [UInt8], at offset: Int) -> ([UInt8], Int)? {
        guard data.count - offset >= 12 else { return nil }
        var r = BrokerByteReader(Array(data[offset..<offset + 12]))
        guard let magic = try? r.u32(), magic == Self.magic,
              let length = try? r.u32(), Int(length) <= maxBodyBytes,
              let crc = try? r.u32(), data.count - offset - 12 >= Int(length) else { return nil }
        let body = Array(data[offset + 12..<offset + 12 + Int(length)])
        guard CRC32C.checksum(body) == crc else { return nil }
        return (body, offset + 12 + Int(length))
    }

    private static func parseBody(_ body: [UInt8], limits: ProtocolLimits) throws
        -> (receipt: SignedReceipt, storeID: UInt64, clientID: String, recipients: [ParticipantID]) {
        var r = BrokerByteReader(body)
        guard try r.u8() == bodyVersion else { throw BrokerByteReader.Truncated() }
        let receipt = try SignedReceipt(parsing: r.blob32(max: maxBodyBytes), limits: limits)
        let storeID = try r.u64()
        let clientID = try r.str8()
        let n = Int(try r.u16())
        var recipients: [ParticipantID] = []
        for _ in 0..<n { recipients.append(try ParticipantID(r.str8())) }
        guard r.isAtEnd else { throw BrokerByteReader.Truncated() }
        return (receipt, storeID, clientID, recipients)
    }
}

/// `close(2)` outside the class, whose own `close()` would shadow it.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }
