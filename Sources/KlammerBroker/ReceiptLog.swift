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
/// one per receipt, fsynced before the receipt is released. A torn or damaged tail is copied to
/// `receipts.klog.<ms>.bad` and cut off.
///
/// The receipts themselves stay on disk: the in-memory index holds per message only its sender, client message id,
/// recipients, store id and, per receipt, where its record lies plus a 128-bit digest (for "already recorded") —
/// a few hundred bytes per message instead of every signed receipt. A finished message past the dedupe window
/// needs none of that any more: it becomes a ``ColdEntry`` (acceptance time and packed record positions, about
/// a hundred bytes), and its slip is rebuilt from its records when asked. Routing slips, duplicate answers and expiry
/// receipts read their records back with `pread`. Slips of finished messages older than the retention are removed
/// by ``compact(acceptedBefore:demoteBefore:minimumReclaimFraction:)``, which bounds both the file and the index.
final class ReceiptLog: Sendable {
    static let magic: UInt32 = 0x4B52_4C31  // "KRL1"
    static let bodyVersion: UInt8 = 1
    static let headerBytes = 12
    /// Largest record body (a receipt with two signatures plus up to 4096 recipient ids fits easily).
    static let maxBodyBytes = 1 << 20
    /// Most records per message before receipts of a *repeatable* kind (``isCapped(_:)``: dead-lettered, which an
    /// operator's requeue can produce again and again) are no longer recorded. Never a reason to drop an `accepted`,
    /// `acknowledged` or `expired` receipt, and `delivered` is recorded once per recipient anyway (``RecordOutcome``).
    static let maxEntriesPerMessage = 4096

    /// What ``record(_:storeID:clientMessageID:recipients:)`` did with a receipt.
    enum RecordOutcome: Sendable, Equatable {
        /// Written and fsynced now.
        case written
        /// The byte-identical receipt was already recorded (for example the original `accepted` receipt of a retry).
        case alreadyRecorded
        /// Not recorded because the slip already holds the same evidence: a `delivered` receipt for this recipient
        /// (a redelivery or a resumed download adds nothing the first one does not say).
        case superseded
        /// Not recorded: a repeatable kind (``isCapped(_:)``) at the per-message bound.
        case dropped
    }

    /// Receipts that only add to what the slip already says, so they may stop being recorded at
    /// ``maxEntriesPerMessage``. Acceptance, acknowledgements (the recipient's signed statement, the sender's
    /// evidence) and expiry (which finishes the message) are always recorded: each is bounded by the store itself
    /// (one acceptance, one lease per acknowledgement, one expiry per recipient).
    static func isCapped(_ kind: Receipt.Kind) -> Bool {
        switch kind {
        case .accepted, .acknowledged, .expired, .delivered: return false
        case .deadLettered, .rejected: return true
        }
    }
    /// Most bytes written (and fsynced) in one group commit.
    static let maxBatchBytes = 4 << 20

    /// A routing slip read back from the file.
    struct Slip: Sendable {
        var sender: ParticipantID
        var clientMessageID: String
        var recipients: [ParticipantID]
        var receipts: [SignedReceipt]
    }

    /// The first 128 bits of SHA-256 over a signed receipt's encoding: tells "this receipt is already recorded"
    /// without keeping the receipt.
    struct ReceiptDigest: Hashable, Sendable {
        let high: UInt64
        let low: UInt64

        init(encoded: some Collection<UInt8>) {
            let h = BrokerHash.sha256(Array(encoded))
            high = BrokerByteReader.bigEndian(h[0..<8])
            low = BrokerByteReader.bigEndian(h[8..<16])
        }
    }

    /// Where one recorded receipt lies in the file (the whole frame, header included) and what the index needs of
    /// it without reading it.
    struct RecordRef: Sendable {
        var offset: Int64
        var length: Int32
        var kind: Receipt.Kind
        var recipient: ParticipantID?
        var digest: ReceiptDigest
    }

    /// The index entry of one message.
    struct IndexEntry: Sendable {
        var sender: ParticipantID
        var clientMessageID: String = ""
        var recipients: [ParticipantID] = []
        /// From the `accepted` record; nil until it is recorded (after a crash it can come after other receipts).
        var acceptedAtMillis: UInt64?
        var storeID: UInt64?
        var records: [RecordRef] = []

        /// Accepted, and acknowledged or expired for every recipient: nothing more can happen to the message
        /// (dead-lettered is not final, the operator can requeue it).
        var isFinished: Bool {
            guard acceptedAtMillis != nil else { return false }
            var open = Set(recipients)
            for r in records where r.kind == .acknowledged || r.kind == .expired {
                if let recipient = r.recipient { open.remove(recipient) }
            }
            return open.isEmpty
        }
    }

    /// A finished message accepted before the dedupe window: nothing can happen to it any more and no duplicate can
    /// refer to it, so the index keeps only when it was accepted (for the retention) and where its records are.
    /// Its records are a range of `State.coldRecords`, one flat array for all cold messages: no allocation per
    /// message, so the cold index neither costs an array header per message nor pins heap pages.
    struct ColdEntry: Sendable {
        var acceptedAtMillis: UInt64
        var start: UInt32
        var count: UInt32

        static let maxOffset: Int64 = 1 << 40

        /// Per record `offset << 24 | frame length` (a frame is at most 12 + 1 MiB bytes, so the length fits 24 bits;
        /// offsets up to 1 TiB fit the rest — records beyond that stay hot).
        static func pack(_ offset: Int64, _ length: Int32) -> UInt64 { UInt64(offset) << 24 | UInt64(length) }
        static func unpack(_ packed: UInt64) -> (offset: Int64, length: Int32) {
            (Int64(packed >> 24), Int32(packed & 0xFF_FFFF))
        }
    }

    /// A receipt waiting for the next group commit.
    struct Pending: Sendable {
        var frame: [UInt8]
        var receipt: SignedReceipt
        var digest: ReceiptDigest
        var storeID: UInt64
        var clientMessageID: String
        var recipients: [ParticipantID]
        var continuation: CheckedContinuation<RecordOutcome, any Error>
    }

    struct State: Sendable {
        var fd: Int32
        var poisoned = false
        var pending: [Pending] = []
        var drainScheduled = false
        var entries: [MessageID: IndexEntry] = [:]
        var cold: [MessageID: ColdEntry] = [:]
        /// The packed record positions of all cold messages (see ``ColdEntry``); `coldGarbage` slots belong to no
        /// entry any more (removed, or moved by a late receipt) until the next compaction packs the array.
        var coldRecords: [UInt64] = []
        var coldGarbage = 0

        func coldRefs(_ e: ColdEntry) -> ArraySlice<UInt64> { coldRecords[Int(e.start)..<Int(e.start) + Int(e.count)] }

        mutating func makeCold(_ id: MessageID, acceptedAt: UInt64, refs: [UInt64]) {
            let start = coldRecords.count
            coldRecords.append(contentsOf: refs)
            cold[id] = ColdEntry(acceptedAtMillis: acceptedAt, start: UInt32(start), count: UInt32(refs.count))
        }

        /// A late record of a cold message: appended in place if its range ends the array, else the range moves to
        /// the end.
        mutating func appendCold(_ id: MessageID, _ packed: UInt64) {
            guard let e = cold[id] else { return }
            if Int(e.start) + Int(e.count) == coldRecords.count {
                coldRecords.append(packed)
                cold[id]!.count += 1
            } else {
                coldGarbage += Int(e.count)
                makeCold(id, acceptedAt: e.acceptedAtMillis, refs: Array(coldRefs(e)) + [packed])
            }
        }

        mutating func removeCold(_ id: MessageID) -> Bool {
            guard let e = cold.removeValue(forKey: id) else { return false }
            coldGarbage += Int(e.count)
            return true
        }

        /// Gives back the tables' unused capacity (a dictionary keeps its capacity when entries leave it): after
        /// replay and compaction most entries may have gone cold or been removed.
        mutating func shrinkTables() {
            func shrunk<K: Hashable, V>(_ d: [K: V]) -> [K: V] {
                guard d.capacity > 64, d.count * 4 < d.capacity else { return d }
                var copy = [K: V](minimumCapacity: d.count)
                for (k, v) in d { copy[k] = v }
                return copy
            }
            entries = shrunk(entries)
            byClientID = shrunk(byClientID)
            byStoreID = shrunk(byStoreID)
            cold = shrunk(cold)
            if coldRecords.capacity > 2 * coldRecords.count + 1024 { coldRecords = Array(coldRecords) }
        }

        /// Drops the garbage slots.
        mutating func packColdRecords() {
            guard coldGarbage > 0 else { return }
            var flat: [UInt64] = []
            flat.reserveCapacity(coldRecords.count - coldGarbage)
            var moved: [MessageID: ColdEntry] = [:]
            moved.reserveCapacity(cold.count)
            for (id, e) in cold {
                moved[id] = ColdEntry(acceptedAtMillis: e.acceptedAtMillis, start: UInt32(flat.count), count: e.count)
                flat.append(contentsOf: coldRefs(e))
            }
            coldRecords = flat
            cold = moved
            coldGarbage = 0
        }
        var byClientID: [String: MessageID] = [:]
        var byStoreID: [UInt64: MessageID] = [:]
        /// Bytes of valid records in the file (its end after replay and every append).
        var fileBytes: Int64 = 0
    }

    let path: String
    let limits: ProtocolLimits
    let state: Mutex<State>
    /// The single writer: appends, compaction and close run here, in order.
    let queue = DispatchQueue(label: "klammer.broker.receipt-log")

    /// Opens (or creates) the log and replays it; finished messages accepted before `demoteBefore` (ms since 1970:
    /// now minus the dedupe window) go to the cold index during the replay (every `demoteEvery` records).
    init(directory: String, limits: ProtocolLimits, demoteBefore: UInt64 = 0, demoteEvery: Int = 65_536) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent("receipts.klog")
        self.limits = limits
        // A compaction that did not reach its rename left this behind; the log itself is complete.
        unlink(path + ".compact")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw BrokerError(
                .io, "cannot open the receipt log \(path): \(String(cString: strerror(errno))); check the directory's permissions")
        }
        var s = State(fd: fd)
        do { try Self.replay(&s, path: path, limits: limits, demoteBefore: demoteBefore, demoteEvery: demoteEvery) } catch {
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

    /// Appends `receipt` durably (write + fsync) unless the identical receipt is already recorded, the recipient's
    /// `delivered` receipt is (``RecordOutcome/superseded``), or a repeatable kind reached the per-message bound.
    /// `storeID`/`clientMessageID`/`recipients` are needed for `accepted` receipts (they open the slip; the store id
    /// maps store events back to the message).
    @discardableResult
    func record(_ receipt: SignedReceipt, storeID: UInt64, clientMessageID: String, recipients: [ParticipantID]) async throws
        -> RecordOutcome
    {
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
        let digest = ReceiptDigest(encoded: encoded)
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<RecordOutcome, any Error>) in
            let entry = Pending(
                frame: bytes, receipt: receipt, digest: digest, storeID: storeID, clientMessageID: clientMessageID,
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
            enum Step { case done, failed([Pending], ProtocolError), write(Int32, [Pending], [(Pending, RecordOutcome)]) }
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
                    return .failed(
                        batch,
                        ProtocolError(
                            .storageUnavailable, "an earlier write to the receipt log \(path) failed; the broker must be restarted"))
                }
                // Already recorded, superseded or over the per-message bound: nothing to write, just answer.
                var write: [Pending] = [], skip: [(Pending, RecordOutcome)] = []
                for p in batch {
                    if let outcome = Self.outcome(of: p, among: write) ?? outcome(of: p, in: s) {
                        skip.append((p, outcome))
                    } else {
                        write.append(p)
                    }
                }
                return .write(s.fd, write, skip)
            }
            switch step {
            case .done:
                return
            case .failed(let batch, let error):
                for p in batch { p.continuation.resume(throwing: error) }
            case .write(let fd, let write, let skip):
                let start: Int64
                switch append(write.flatMap(\.frame), to: fd) {
                case .failure(let error):
                    for p in write + skip.map(\.0) { p.continuation.resume(throwing: error) }
                    continue
                case .success(let offset):
                    start = offset
                }
                state.withLock { s in
                    var offset = start
                    for p in write {
                        let ref = RecordRef(
                            offset: offset, length: Int32(p.frame.count), kind: p.receipt.receipt.kind,
                            recipient: p.receipt.receipt.recipient, digest: p.digest)
                        Self.apply(
                            &s, ref, p.receipt.receipt, storeID: p.storeID, clientMessageID: p.clientMessageID,
                            recipients: p.recipients)
                        offset += Int64(p.frame.count)
                    }
                    s.fileBytes = max(s.fileBytes, offset)
                }
                for p in write { p.continuation.resume(returning: .written) }
                for (p, outcome) in skip { p.continuation.resume(returning: outcome) }
            }
        }
    }

    /// Why `p` is not to be written because of a receipt earlier in the same batch; nil if nothing there stops it.
    private static func outcome(of p: Pending, among batch: [Pending]) -> RecordOutcome? {
        let r = p.receipt.receipt
        for q in batch where q.receipt.receipt.messageID == r.messageID {
            if q.digest == p.digest { return .alreadyRecorded }
            if r.kind == .delivered, q.receipt.receipt.kind == .delivered, q.receipt.receipt.recipient == r.recipient { return .superseded }
        }
        return nil
    }

    /// Why `p` is not to be written because of what the slip holds (nil: write it): the identical receipt, the
    /// recipient's `delivered` receipt, or the per-message bound for a repeatable kind. Cold messages have no
    /// digests in memory: their few records are read back (a receipt for a finished message is rare).
    private func outcome(of p: Pending, in s: State) -> RecordOutcome? {
        let r = p.receipt.receipt
        let capped = Self.isCapped(r.kind)
        if let known = s.entries[r.messageID]?.records {
            if known.contains(where: { $0.digest == p.digest }) { return .alreadyRecorded }
            if r.kind == .delivered, known.contains(where: { $0.kind == .delivered && $0.recipient == r.recipient }) { return .superseded }
            return capped && known.count >= Self.maxEntriesPerMessage ? .dropped : nil
        }
        guard let cold = s.cold[r.messageID] else { return nil }
        for packed in s.coldRefs(cold) {
            let (offset, length) = ColdEntry.unpack(packed)
            guard let parsed = try? Self.readFrame(offset: offset, length: length, fd: s.fd, path: path, limits: limits) else { continue }
            if ReceiptDigest(encoded: parsed.encoded) == p.digest { return .alreadyRecorded }
            let known = parsed.receipt.receipt
            if r.kind == .delivered, known.kind == .delivered, known.recipient == r.recipient { return .superseded }
        }
        return capped && cold.count >= Self.maxEntriesPerMessage ? .dropped : nil
    }

    /// The recorded `delivered` receipt of `recipient` for message `id`, read from the file; nil if none is recorded.
    /// Hot messages need one `pread` only if there is one (the index knows kind and recipient of every record).
    func deliveredReceipt(of id: MessageID, to recipient: ParticipantID) throws -> SignedReceipt? {
        let hot = try state.withLock { s -> (indexed: Bool, receipt: SignedReceipt?) in
            guard let entry = s.entries[id] else { return (false, nil) }
            guard let ref = entry.records.first(where: { $0.kind == .delivered && $0.recipient == recipient }) else { return (true, nil) }
            return (true, try Self.read(ref, fd: s.fd, path: path, limits: limits))
        }
        if hot.indexed { return hot.receipt }
        return try slip(id)?.receipts.first { $0.receipt.kind == .delivered && $0.receipt.recipient == recipient }
    }

    /// Appends `bytes` at the end of the file and fsyncs; returns where they start. Poisons the log on failure.
    private func append(_ bytes: [UInt8], to fd: Int32) -> Result<Int64, ProtocolError> {
        let end = lseek(fd, 0, SEEK_END)
        if bytes.isEmpty { return .success(Int64(max(end, 0))) }
        var written = 0
        let ok =
            end >= 0
            && bytes.withUnsafeBytes { buf -> Bool in
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
            return .failure(
                ProtocolError(
                    code == ENOSPC ? .storageFull : .storageUnavailable,
                    "cannot write the receipt log \(path): \(String(cString: strerror(code))); the broker must be restarted"))
        }
        return .success(Int64(end))
    }

    /// The routing slip of `id` with every recorded receipt, read from the file; nil if the message is unknown.
    func slip(_ id: MessageID) throws -> Slip? {
        try state.withLock { s -> Slip? in
            if let entry = s.entries[id] {
                let receipts = try entry.records.map { try Self.read($0, fd: s.fd, path: path, limits: limits) }
                return Slip(sender: entry.sender, clientMessageID: entry.clientMessageID, recipients: entry.recipients, receipts: receipts)
            }
            guard let cold = s.cold[id] else { return nil }
            // Rebuilt from the records: the accepted one carries client message id and recipients.
            var slip: Slip?
            var receipts: [SignedReceipt] = []
            for packed in s.coldRefs(cold) {
                let (offset, length) = ColdEntry.unpack(packed)
                let parsed = try Self.readFrame(offset: offset, length: length, fd: s.fd, path: path, limits: limits)
                guard parsed.receipt.receipt.messageID == id else {
                    throw ProtocolError(
                        .storageUnavailable,
                        "the receipt log \(path) is damaged at offset \(offset) (the record does not match the index); restore it from a backup"
                    )
                }
                receipts.append(parsed.receipt)
                if parsed.receipt.receipt.kind == .accepted {
                    slip = Slip(
                        sender: parsed.receipt.receipt.sender, clientMessageID: parsed.clientID, recipients: parsed.recipients, receipts: []
                    )
                }
            }
            guard var result = slip else {
                throw ProtocolError(
                    .storageUnavailable,
                    "the receipt log \(path) has no accepted record for message \(id) any more; restore it from a backup")
            }
            result.receipts = receipts
            return result
        }
    }

    /// The recorded `accepted` receipt of `id`, read from the file; nil if none is recorded.
    func acceptedReceipt(of id: MessageID) throws -> SignedReceipt? {
        // Looked up and read under one lock: a compaction in between would move the record.
        let hot = try state.withLock { s -> (indexed: Bool, receipt: SignedReceipt?) in
            guard let entry = s.entries[id] else { return (false, nil) }
            guard let ref = entry.records.first(where: { $0.kind == .accepted }) else { return (true, nil) }
            return (true, try Self.read(ref, fd: s.fd, path: path, limits: limits))
        }
        if hot.indexed { return hot.receipt }
        return try slip(id)?.receipts.first { $0.receipt.kind == .accepted }  // cold (rebuilt) or unknown (nil)
    }

    /// When the `accepted` receipt of `id` was issued, from the index (no file read).
    func acceptedAtMillis(of id: MessageID) -> UInt64? {
        state.withLock { s in s.entries[id]?.acceptedAtMillis ?? s.cold[id]?.acceptedAtMillis }
    }

    func messageID(sender: ParticipantID, clientMessageID: String) -> MessageID? {
        state.withLock { $0.byClientID[Self.dedupeKey(sender: sender, clientMessageID: clientMessageID)] }
    }

    /// The store id of a message (from its `accepted` record).
    func storeID(of messageID: MessageID) -> UInt64? { state.withLock { $0.entries[messageID]?.storeID } }

    /// The message a store id belongs to (from its `accepted` record).
    func messageID(storeID: UInt64) -> MessageID? { state.withLock { $0.byStoreID[storeID] } }

    /// Messages (of which cold) and receipts in the index, and the file's size.
    var counts: (messages: Int, cold: Int, receipts: Int, fileBytes: Int64) {
        state.withLock { s in
            (
                s.entries.count + s.cold.count, s.cold.count,
                s.entries.values.reduce(0) { $0 + $1.records.count } + s.coldRecords.count - s.coldGarbage, s.fileBytes
            )
        }
    }

    /// Moves finished messages accepted before `cutoffMillis` to the cold index; returns how many. Their dedupe and
    /// store-id mappings go (the dedupe window is over, the store holds no entry of a finished message).
    @discardableResult
    static func demote(_ s: inout State, acceptedBefore cutoffMillis: UInt64) -> Int {
        let ids = s.entries.compactMap { id, e -> MessageID? in
            guard let at = e.acceptedAtMillis, at < cutoffMillis, e.isFinished,
                e.records.allSatisfy({ $0.offset < ColdEntry.maxOffset }),
                s.coldRecords.count + e.records.count < Int(UInt32.max)
            else { return nil }
            return id
        }
        for id in ids {
            guard let e = s.entries.removeValue(forKey: id) else { continue }
            s.makeCold(id, acceptedAt: e.acceptedAtMillis!, refs: e.records.map { ColdEntry.pack($0.offset, $0.length) })
            let key = dedupeKey(sender: e.sender, clientMessageID: e.clientMessageID)
            if s.byClientID[key] == id { s.byClientID[key] = nil }
            if let storeID = e.storeID, s.byStoreID[storeID] == id { s.byStoreID[storeID] = nil }
        }
        return ids.count
    }

    static func apply(
        _ s: inout State, _ ref: RecordRef, _ r: Receipt, storeID: UInt64, clientMessageID: String,
        recipients: [ParticipantID]
    ) {
        let id = r.messageID
        if s.cold[id] != nil {
            // A late receipt for a finished message (rare): it joins the cold record list.
            s.appendCold(id, ColdEntry.pack(ref.offset, ref.length))
            return
        }
        var entry = s.entries.removeValue(forKey: id) ?? IndexEntry(sender: r.sender)
        if r.kind == .accepted {
            entry.clientMessageID = clientMessageID
            entry.recipients = recipients
            entry.acceptedAtMillis = r.timestampMillis
            entry.storeID = storeID
            s.byClientID[dedupeKey(sender: r.sender, clientMessageID: clientMessageID)] = id
            s.byStoreID[storeID] = id
        }
        entry.records.append(ref)
        s.entries[id] = entry
    }

    /// Reads and checks one record; a record that no longer matches what was indexed means the file was changed
    /// or damaged under the running broker.
    static func read(_ ref: RecordRef, fd: Int32, path: String, limits: ProtocolLimits) throws -> SignedReceipt {
        let parsed = try readFrame(offset: ref.offset, length: ref.length, fd: fd, path: path, limits: limits)
        guard ReceiptDigest(encoded: parsed.encoded) == ref.digest else {
            throw ProtocolError(
                .storageUnavailable,
                "the receipt log \(path) is damaged at offset \(ref.offset) (the record does not match the index); restore it from a backup"
            )
        }
        return parsed.receipt
    }

    /// Reads and parses the frame of `length` bytes at `offset` (header, CRC and body checked).
    static func readFrame(offset: Int64, length: Int32, fd: Int32, path: String, limits: ProtocolLimits) throws
        -> (receipt: SignedReceipt, encoded: [UInt8], storeID: UInt64, clientID: String, recipients: [ParticipantID])
    {
        let bytes = try readBytes(fd: fd, offset: offset, count: Int(length), path: path)
        guard let (body, _) = frame(in: bytes, at: 0), let parsed = try? parseBody(body, limits: limits) else {
            throw ProtocolError(
                .storageUnavailable,
                "the receipt log \(path) is damaged at offset \(offset) (the record does not match the index); restore it from a backup")
        }
        return parsed
    }

    /// `count` bytes of the log at `offset` (`pread` until complete).
    static func readBytes(fd: Int32, offset: Int64, count: Int, path: String) throws -> [UInt8] {
        guard fd >= 0 else { throw ProtocolError(.storageUnavailable, "the receipt log is closed") }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else {
                let reason = n == 0 ? "the file ends early" : String(cString: strerror(errno))
                throw ProtocolError(
                    .storageUnavailable, "cannot read the receipt log \(path) at offset \(offset): \(reason); restore it from a backup")
            }
            done += n
        }
        return bytes
    }

    /// The body of the frame at `offset` of `data` and the offset after it; nil if no complete valid frame is there.
    static func frame(in data: [UInt8], at offset: Int) -> ([UInt8], Int)? {
        guard data.count - offset >= headerBytes,
            let length = frameBodyLength(data[offset..<offset + headerBytes]),
            data.count - offset - headerBytes >= length
        else { return nil }
        let body = Array(data[offset + headerBytes..<offset + headerBytes + length])
        guard CRC32C.checksum(body) == bigEndianU32(data[offset + 8..<offset + 12]) else { return nil }
        return (body, offset + headerBytes + length)
    }

    /// The body length a 12-byte frame header announces; nil for a wrong magic or an oversized length.
    static func frameBodyLength(_ header: ArraySlice<UInt8>) -> Int? {
        guard header.count == headerBytes, bigEndianU32(header.prefix(4)) == magic else { return nil }
        let length = Int(bigEndianU32(header.dropFirst(4).prefix(4)))
        return length <= maxBodyBytes ? length : nil
    }

    static func bigEndianU32(_ bytes: ArraySlice<UInt8>) -> UInt32 { BrokerByteReader.bigEndian(bytes) }

    static func parseBody(_ body: [UInt8], limits: ProtocolLimits) throws
        -> (receipt: SignedReceipt, encoded: [UInt8], storeID: UInt64, clientID: String, recipients: [ParticipantID])
    {
        var r = BrokerByteReader(body)
        guard try r.u8() == bodyVersion else { throw BrokerByteReader.Truncated() }
        let encoded = try r.blob32(max: maxBodyBytes)
        let receipt = try SignedReceipt(parsing: encoded, limits: limits)
        let storeID = try r.u64()
        let clientID = try r.str8()
        let n = Int(try r.u16())
        var recipients: [ParticipantID] = []
        for _ in 0..<n { recipients.append(try ParticipantID(r.str8())) }
        guard r.isAtEnd else { throw BrokerByteReader.Truncated() }
        return (receipt, encoded, storeID, clientID, recipients)
    }
}

/// `close(2)` outside the class, whose own `close()` would shadow it.
func closeDescriptor(_ fd: Int32) { _ = close(fd) }
