import DequeModule
import Dispatch
import Foundation
import Glibc
import Synchronization

/// One record waiting for the writer thread. `seq` and `body` are fixed at submission (under the store lock), so log
/// order equals submission order; the segment id and offset are assigned by the writer.
struct PendingWrite: Sendable {
    var seq: UInt64
    var type: RecordType
    var body: [UInt8]
    var bodyCRC: UInt32
    /// Called on the writer thread, in log order, once the record is durable (or the write failed).
    /// Runs under the store lock (one lock acquisition per batch); it must not take the lock itself.
    var completion: @Sendable (inout StoreState, Result<RecordLocation, StoreError>, Durability) -> Void
}

/// Callbacks from the writer thread into the store.
struct WriterHooks: Sendable {
    /// A new segment file was created and its creation made durable.
    var segmentCreated: @Sendable (_ segmentID: UInt64, _ path: String) -> Void
    /// A segment was sealed with a footer at `size` bytes.
    var segmentSealed: @Sendable (_ segmentID: UInt64, _ size: UInt64) -> Void
    /// Runs a body under the store lock.
    var withState: @Sendable (_ body: (inout StoreState) -> Void) -> Void
    /// The write path failed and is now poisoned.
    var poisoned: @Sendable (StoreError) -> Void
}

/// Group commit: appenders enqueue records; a dedicated thread drains the inbox, writes the whole batch with one
/// pwrite and one fdatasync, then completes every record of the batch. The batch adapts to load: it is flushed when
/// it is full or when the inbox is empty, so under load one fdatasync covers many records and when idle a single
/// record is synced at once. Blocking syscalls never run on Swift's cooperative pool.
final class GroupCommitWriter: Sendable {
    struct Inbox {
        var queue: Deque<PendingWrite> = []
        var sleeping = false
        var stopping = false
        var poison: StoreError?
    }

    /// State only the writer thread touches (the lock is uncontended; it exists to satisfy Sendable).
    struct Active {
        var fd: Int32 = -1
        var path = ""
        var segmentID: UInt64 = 0
        var offset: UInt64 = 0
        var records: UInt64 = 0
        var lastSeq: UInt64 = 0
        var unsyncedSince: ContinuousClock.Instant?
    }

    /// Work for the completion thread, in log order: applying a batch to the store state and resuming its waiters
    /// runs there, so the writer can already write and sync the next batch (pipelining). Segment creation/sealing
    /// notifications go through the same queue so the state never sees a segment sealed before its last records.
    enum CompletionItem: Sendable {
        case batch([PendingWrite], Result<[RecordLocation], StoreError>, Durability)
        case segmentCreated(UInt64, String)
        case segmentSealed(UInt64, UInt64)
        case stop
    }

    let inbox = Mutex(Inbox())
    let completions = Mutex(Deque<CompletionItem>())
    let completionWake = DispatchSemaphore(value: 0)
    let completionStopped = DispatchSemaphore(value: 0)
    /// Apply batches on the writer thread itself (no pipelining), see `StoreConfiguration.pipelinedCompletions`.
    var inlineCompletions: Bool { !config.pipelinedCompletions }
    let active: Mutex<Active>
    /// (segment id, end offset) of the data written so far; scrub reads the active segment only up to here.
    let writtenEnd = Mutex<(UInt64, UInt64)>((0, 0))
    let wake = DispatchSemaphore(value: 0)
    let stopped = DispatchSemaphore(value: 0)
    let io: any FileIO
    let logDirectory: String
    let config: StoreConfiguration
    let hooks: WriterHooks

    /// - Parameter existing: the unsealed last segment found by recovery (already truncated to its valid end).
    init(
        config: StoreConfiguration, logDirectory: String,
        existing: (
            fd: Int32, path: String, segmentID: UInt64,
            offset: UInt64, records: UInt64
        )?, hooks: WriterHooks
    ) {
        self.io = config.fileIO
        self.config = config
        self.logDirectory = logDirectory
        self.hooks = hooks
        var a = Active()
        if let e = existing {
            a.fd = e.fd; a.path = e.path; a.segmentID = e.segmentID; a.offset = e.offset; a.records = e.records
            writtenEnd.withLock { $0 = (e.segmentID, e.offset) }
        }
        active = Mutex(a)
    }

    func start() {
        let t = Thread { [self] in self.run() }
        t.name = "klammer-store-writer"
        t.start()
        let c = Thread { [self] in self.runCompletions() }
        c.name = "klammer-store-completer"
        c.start()
    }

    /// Enqueues a record. Returns the poison error instead if the write path is poisoned or stopping.
    func submit(_ w: PendingWrite) -> StoreError? {
        let (err, signal) = inbox.withLock { ib -> (StoreError?, Bool) in
            if let p = ib.poison { return (p, false) }
            if ib.stopping { return (StoreError.closed, false) }
            ib.queue.append(w)
            let s = ib.sleeping
            ib.sleeping = false
            return (nil, s)
        }
        if signal { wake.signal() }
        return err
    }

    var poisonError: StoreError? { inbox.withLock { $0.poison } }

    /// Stops after writing everything already submitted. Blocks; call off the cooperative pool or accept a short wait.
    func stop() {
        let signal = inbox.withLock { ib -> Bool in
            ib.stopping = true
            let s = ib.sleeping
            ib.sleeping = false
            return s
        }
        if signal { wake.signal() }
        stopped.wait()
    }

    private func run() {
        let maxDelay: Duration? = {
            if case .batched(let d) = config.durability { return d }
            return nil
        }()
        while true {
            var batch: [PendingWrite] = []
            var bytes = 0
            let (stopping, poisoned) = inbox.withLock { ib -> (Bool, Bool) in
                while let first = ib.queue.first, batch.count < config.maxBatchRecords,
                    batch.isEmpty || bytes + first.body.count <= config.maxBatchBytes
                {
                    bytes += first.body.count + SegmentFormat.recordHeaderSize
                    batch.append(ib.queue.removeFirst())
                }
                if batch.isEmpty { ib.sleeping = true }
                return (ib.stopping, ib.poison != nil)
            }
            if batch.isEmpty {
                if stopping || poisoned {
                    if !poisoned { try? syncIfNeeded(force: true) }
                    active.withLock { a in if a.fd >= 0 { io.close(a.fd); a.fd = -1 } }
                    complete(.stop)
                    completionStopped.wait()
                    stopped.signal()
                    return
                }
                if let maxDelay, let since = active.withLock({ $0.unsyncedSince }) {
                    let remaining = maxDelay - (ContinuousClock.now - since)
                    if remaining <= .zero
                        || wake.wait(
                            timeout: .now()
                                + .nanoseconds(
                                    Int(remaining.components.attoseconds / 1_000_000_000 + remaining.components.seconds * 1_000_000_000)))
                            == .timedOut
                    {
                        do { try syncIfNeeded(force: true) } catch { fail(Self.ioError(error), batch: []) }
                    }
                } else {
                    wake.wait()
                }
                continue
            }
            write(batch, bytes: bytes, maxDelay: maxDelay)
        }
    }

    private func syncIfNeeded(force: Bool) throws {
        try active.withLock { a in
            guard a.fd >= 0, a.unsyncedSince != nil else { return }
            try StoreMetrics.timedSync { try io.fdatasync(a.fd, path: a.path) }
            a.unsyncedSince = nil
        }
    }

    private func write(_ batch: [PendingWrite], bytes: Int, maxDelay: Duration?) {
        var locations: [RecordLocation] = []
        locations.reserveCapacity(batch.count)
        do {
            try active.withLock { a in
                if a.fd < 0 || (a.offset >= config.segmentSize && a.records > 0) {
                    try roll(&a, newSegmentID: batch[0].seq)
                }
                var buf: [UInt8] = []
                buf.reserveCapacity(bytes)
                for w in batch {
                    let off = a.offset + UInt64(buf.count)
                    SegmentFormat.encodeRecord(
                        into: &buf, segmentID: a.segmentID, seq: w.seq, type: w.type,
                        body: w.body, bodyCRC: w.bodyCRC)
                    locations.append(
                        RecordLocation(
                            segmentID: a.segmentID, offset: off,
                            length: UInt32(buf.count) - UInt32(off - a.offset)))
                }
                try buf.withUnsafeBytes { b in try io.pwrite(a.fd, b, offset: a.offset, path: a.path) }
                a.offset += UInt64(buf.count)
                a.records += UInt64(batch.count)
                a.lastSeq = batch[batch.count - 1].seq
                if maxDelay == nil {
                    try StoreMetrics.timedSync { try io.fdatasync(a.fd, path: a.path) }
                } else if a.unsyncedSince == nil {
                    a.unsyncedSince = ContinuousClock.now
                }
                let end = (a.segmentID, a.offset)
                writtenEnd.withLock { $0 = end }
            }
        } catch {
            fail(Self.ioError(error), batch: batch)
            return
        }
        StoreMetrics.batchRecords.record(batch.count)
        let durability = config.durability
        complete(.batch(batch, .success(locations), durability))
    }

    /// Seals the current segment (footer + fdatasync) and creates the next one (header + fdatasync + dir fsync).
    private func roll(_ a: inout Active, newSegmentID: UInt64) throws {
        if a.fd >= 0 {
            var buf: [UInt8] = []
            let body = RecordBody.encodeFooter(records: a.records, lastSeq: a.lastSeq)
            SegmentFormat.encodeRecord(
                into: &buf, segmentID: a.segmentID, seq: a.lastSeq, type: .footer,
                body: body, bodyCRC: CRC32C.checksum(body))
            try buf.withUnsafeBytes { b in try io.pwrite(a.fd, b, offset: a.offset, path: a.path) }
            try io.fdatasync(a.fd, path: a.path)
            a.offset += UInt64(buf.count)
            a.unsyncedSince = nil
            io.close(a.fd)
            a.fd = -1
            complete(.segmentSealed(a.segmentID, a.offset))
        }
        let path = logDirectory + "/" + SegmentFormat.fileName(newSegmentID)
        let fd = try io.open(path, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        a.fd = fd
        a.path = path
        a.segmentID = newSegmentID
        a.offset = 0
        a.records = 0
        let header = SegmentFormat.encodeHeader(
            segmentID: newSegmentID,
            createdMs: Int64(config.now().timeIntervalSince1970 * 1000))
        try header.withUnsafeBytes { b in try io.pwrite(fd, b, offset: 0, path: path) }
        try io.fdatasync(fd, path: path)
        try io.fsyncDirectory(logDirectory)
        a.offset = UInt64(header.count)
        complete(.segmentCreated(newSegmentID, path))
    }

    /// Poisons the write path: fails this batch and everything queued; later submits fail at once.
    private func fail(_ error: FileIOError, batch: [PendingWrite]) {
        let storeError = Self.storeError(for: error)
        let queued = inbox.withLock { ib -> [PendingWrite] in
            if ib.poison == nil { ib.poison = storeError }
            let q = Array(ib.queue)
            ib.queue.removeAll()
            return q
        }
        hooks.poisoned(storeError)
        complete(.batch(batch + queued, .failure(storeError), config.durability))
    }

    private func complete(_ item: CompletionItem) {
        if inlineCompletions, case .stop = item {
        } else if inlineCompletions {
            _ = process(item)
            return
        }
        completions.withLock { $0.append(item) }
        completionWake.signal()
    }

    /// Applies one item; returns true for `.stop`.
    private func process(_ item: CompletionItem) -> Bool {
        switch item {
        case .batch(let batch, let result, let durability):
            hooks.withState { s in
                switch result {
                case .success(let locations):
                    for (i, w) in batch.enumerated() { w.completion(&s, .success(locations[i]), durability) }
                case .failure(let e):
                    for w in batch { w.completion(&s, .failure(e), durability) }
                }
            }
        case .segmentCreated(let id, let path): hooks.segmentCreated(id, path)
        case .segmentSealed(let id, let size): hooks.segmentSealed(id, size)
        case .stop: return true
        }
        return false
    }

    /// The completion thread: applies batches to the store state in log order, one lock acquisition per batch.
    private func runCompletions() {
        while true {
            completionWake.wait()
            let items = completions.withLock { q -> [CompletionItem] in
                let all = Array(q)
                q.removeAll()
                return all
            }
            var stop = false
            for item in items where process(item) { stop = true }
            if stop {
                completionStopped.signal()
                return
            }
        }
    }

    static func ioError(_ e: any Error) -> FileIOError {
        (e as? FileIOError) ?? FileIOError(operation: "write", path: "", errno: EIO)
    }

    static func storeError(for e: FileIOError) -> StoreError {
        if e.errno == ENOSPC {
            return StoreError(
                .diskFull,
                "\(e.operation) failed: no space left on device; the write path is disabled "
                    + "(nothing unconfirmed was acknowledged, reads continue); free disk space and reopen the store",
                file: e.path)
        }
        return StoreError(
            .writePathPoisoned,
            "\(e.operation) failed with \(e.reason) (errno \(e.errno)); the store "
                + "refuses writes until it is reopened (a failed fsync cannot be retried safely); reads continue; "
                + "check the disk", file: e.path)
    }
}
