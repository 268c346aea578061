import Foundation
import Glibc
import Logging
import Synchronization

/// Namespace constants.
public enum KlammerStoreInfo {
    /// On-disk format version written into segment headers.
    public static let formatVersion: UInt16 = 1
}

/// Holder of the store's mutable state, shared with the writer thread's callbacks.
final class StateCell: Sendable {
    let m: Mutex<StoreState>
    init(_ s: StoreState) { m = Mutex(s) }
}

/// The crash-safe, file-backed message store: an append-only log of checksummed records in segments, an in-memory
/// index rebuilt from the log on open, per-recipient queues with leases, dead-lettering, expiry and deduplication,
/// and blob files for large documents. See SPEC.md §2.
///
/// ```swift
/// let store = try await KlammerStore.open(StoreConfiguration(directory: "/var/lib/klammer/store"))
/// let r = try await store.append(MessageRecord(sender: "a", clientMessageID: "1", recipients: ["b"],
///                                              envelope: env, payload: .inline(doc), outcome: receipt))
/// let ds = try await store.lease(recipient: "b", consumer: ConsumerID("conn-7"), max: 10, visibility: .seconds(30))
/// try await store.ack(recipient: "b", messageID: ds[0].messageID, leaseToken: ds[0].leaseToken)
/// await store.close()
/// ```
public final class KlammerStore: Sendable {
    let config: StoreConfiguration
    /// How appends are confirmed (the broker refuses a store that confirms before fsync, SPEC.md §7.2).
    public var durability: Durability { config.durability }
    let io: any FileIO
    let cell: StateCell
    let writer: GroupCommitWriter
    let logDirectory: String
    let blobDirectory: String
    let quarantineDirectory: String
    let eventContinuation: AsyncStream<StoreEvent>.Continuation
    let maintenance = Mutex<Task<Void, Never>?>(nil)
    let logger = Logger(label: "klammer.store")

    /// Expiry and dead-letter events, emitted after the state change is durable.
    public let events: AsyncStream<StoreEvent>
    /// What recovery found when the store was opened (corruption, truncated torn tail, counts, time).
    public let recoveryReport: RecoveryReport

    /// Opens (creating if needed) the store in `config.directory`, recovering from the log. Corrupt ranges are
    /// quarantined and listed in `recoveryReport`; they never stop the store from opening.
    public static func open(_ config: StoreConfiguration) async throws -> KlammerStore {
        try KlammerStore(config: config)
    }

    init(config: StoreConfiguration) throws {
        self.config = config
        self.io = config.fileIO
        logDirectory = config.directory + "/log"
        blobDirectory = config.directory + "/blobs"
        quarantineDirectory = config.directory + "/quarantine"
        do {
            for d in [logDirectory, blobDirectory, blobDirectory + "/tmp", quarantineDirectory] {
                try io.makeDirectory(d)
            }
            try io.fsyncDirectory(config.directory)
        } catch {
            throw StoreError(.io, "cannot create store directories: \(error.operation) \(error.reason)", file: error.path)
        }
        (events, eventContinuation) = AsyncStream.makeStream(of: StoreEvent.self, bufferingPolicy: .unbounded)
        let recovered = try Recovery.run(
            config: config, logDirectory: logDirectory,
            quarantineDirectory: quarantineDirectory)
        recoveryReport = recovered.report
        let cell = StateCell(recovered.state)
        self.cell = cell
        let io = config.fileIO
        let logger = self.logger
        writer = GroupCommitWriter(
            config: config, logDirectory: logDirectory, existing: recovered.active,
            hooks: WriterHooks(
                segmentCreated: { id, path in
                    let fd = (try? io.open(path, flags: O_RDONLY, mode: 0)) ?? -1
                    cell.m.withLock { s in
                        s.segments[id] = SegmentInfo(
                            handle: SegmentHandle(fd: fd, path: path, io: io), size: 0,
                            liveBytes: 0, sealed: false)
                    }
                },
                segmentSealed: { id, size in
                    cell.m.withLock { s in
                        s.segments[id]?.sealed = true
                        s.segments[id]?.size = size
                    }
                },
                withState: { body in cell.m.withLock { s in body(&s) } },
                poisoned: { e in logger.error("write path poisoned: \(e)") }))
        for c in recovered.report.corruptions { logger.error("store corruption: \(c)") }
        sweepBlobsOnOpen()
        writer.start()
        if config.maintenanceInterval > .zero {
            let interval = config.maintenanceInterval
            let task = Task.detached { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    guard let self else { return }
                    await self.runMaintenance()
                }
            }
            maintenance.withLock { $0 = task }
        }
    }

    /// Stops maintenance, writes and syncs everything submitted, and closes files. Further calls fail with `.closed`.
    public func close() async {
        let already = cell.m.withLock { s -> Bool in
            defer { s.closed = true }
            return s.closed
        }
        if already { return }
        maintenance.withLock {
            $0?.cancel(); $0 = nil
        }
        // Wait for an in-progress compaction step to finish before stopping the writer.
        while cell.m.withLock({ $0.compacting }) { try? await Task.sleep(for: .milliseconds(2)) }
        let w = writer
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                w.stop(); c.resume()
            }
        }
        eventContinuation.finish()
        cell.m.withLock { s in s.segments.removeAll() }
    }

    var nowMs: Int64 { Int64((config.now().timeIntervalSince1970 * 1000).rounded(.down)) }

    /// Appends a message. Returns once its record is durable (`.stored`, with the durability in force), or at once
    /// with the original message id and outcome if (sender, clientMessageID) was appended before (`.duplicate`).
    /// Fails with `.writePathPoisoned`/`.diskFull` after an I/O failure, `.tooLarge`/`.invalidArgument` on limits.
    public func append(_ message: MessageRecord) async throws -> AppendResult {
        var uniqueRecipients: [String] = []
        if message.recipients.count <= 8 {
            for r in message.recipients where !uniqueRecipients.contains(r) { uniqueRecipients.append(r) }
        } else {
            var seen = Set<String>()
            for r in message.recipients where seen.insert(r).inserted { uniqueRecipients.append(r) }
        }
        let recipients = uniqueRecipients
        try validate(message, recipients: recipients)
        let now = nowMs
        let expires: Int64
        if let e = message.expiresAt {
            expires = Int64((e.timeIntervalSince1970 * 1000).rounded(.down))
        } else {
            expires =
                now
                &+ Int64(
                    config.defaultTTL.components.seconds * 1000
                        + config.defaultTTL.components.attoseconds / 1_000_000_000_000_000)
        }
        let body = AppendBody(
            expiresAtMs: expires, appendedAtMs: now, sender: message.sender,
            clientMessageID: message.clientMessageID, recipients: recipients,
            outcome: message.outcome, envelope: message.envelope, payload: message.payload)
        var w = ByteWriter(
            capacity: 96 + message.envelope.count + message.outcome.count
                + { if case .inline(let b) = message.payload { return b.count } else { return 24 } }())
        RecordBody.encodeAppend(body, into: &w)
        let bytes = w.bytes
        let crc = CRC32C.checksum(bytes)
        let hash = RecordBody.dedupeHash(sender: message.sender, clientMessageID: message.clientMessageID)
        let key = DedupeKey(sender: message.sender, clientMessageID: message.clientMessageID)
        if case .blob(let ref) = message.payload {
            guard io.modificationTime(blobPath(ref.id)) != nil else {
                throw StoreError(
                    .notFound,
                    "blob \(ref.id) does not exist (not finished, or swept after "
                        + "blobAbandonTimeout); upload it again")
            }
        }
        let cell = self.cell
        let blob: BlobReference? = { if case .blob(let r) = message.payload { return r } else { return nil } }()
        return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<AppendResult, any Error>) in
            cell.m.withLock { s in
                if s.closed { cont.resume(throwing: StoreError.closed); return }
                if s.pendingDedupe[key] != nil { s.pendingDedupe[key]!.append(cont); return }
                // Seen before? Compare the full key read from disk (only on a 64-bit hash hit, i.e. a real duplicate).
                if let list = s.dedupe[hash] {
                    do {
                        if let dup = try self.duplicate(list.map { ($0, s.segments[$0.location.segmentID]?.handle) }, key: key) {
                            cont.resume(returning: dup); return
                        }
                    } catch {
                        cont.resume(throwing: error); return
                    }
                }
                let seq = s.nextSeq
                s.nextSeq += 1
                let pw = PendingWrite(seq: seq, type: .append, body: bytes, bodyCRC: crc) { s, result, durability in
                    do {
                        let waiters = s.pendingDedupe.removeValue(forKey: key) ?? []
                        switch result {
                        case .failure(let e):
                            cont.resume(throwing: e)
                            for w in waiters { w.resume(throwing: e) }
                        case .success(let loc):
                            s.messages[seq] = MessageMeta(
                                location: loc, expiresAtMs: expires, appendedAtMs: now,
                                dedupeHash: hash, blob: blob, recipients: recipients)
                            s.addLive(loc)
                            for r in recipients {
                                s.queues[r, default: RecipientQueue()].entries[seq] = Entry(state: .ready, attempts: 0)
                                s.queues[r]!.fresh.append(seq)
                            }
                            s.addDedupe(hash: hash, DedupeEntry(messageID: seq, location: loc, appendedAtMs: now))
                            s.expiry.push((expires, seq))
                            cont.resume(returning: .stored(messageID: seq, durability: durability))
                            for w in waiters { w.resume(returning: .duplicate(messageID: seq, outcome: message.outcome)) }
                        }
                    }
                }
                if let e = writer.submit(pw) {
                    cont.resume(throwing: e)
                } else {
                    s.pendingDedupe[key] = []
                }
            }
        }
    }

    func validate(_ m: MessageRecord, recipients: [String]) throws {
        let idLimit = config.maxIDLength
        for (what, v) in [("sender", m.sender), ("clientMessageID", m.clientMessageID)] {
            if v.utf8.isEmpty { throw StoreError.invalid("\(what) is empty; every message needs one") }
            if v.utf8.count > idLimit { throw StoreError.tooLarge("\(what) length", v.utf8.count, idLimit) }
        }
        if recipients.isEmpty { throw StoreError.invalid("message has no recipients") }
        if recipients.count > config.maxRecipients {
            throw StoreError.tooLarge("recipient count", recipients.count, config.maxRecipients)
        }
        for r in recipients {
            if r.utf8.isEmpty { throw StoreError.invalid("empty recipient name") }
            if r.utf8.count > idLimit { throw StoreError.tooLarge("recipient length", r.utf8.count, idLimit) }
        }
        if m.envelope.count > config.maxEnvelope { throw StoreError.tooLarge("envelope", m.envelope.count, config.maxEnvelope) }
        if m.outcome.count > config.maxOutcome { throw StoreError.tooLarge("outcome", m.outcome.count, config.maxOutcome) }
        switch m.payload {
        case .inline(let b):
            if b.count > config.maxInlinePayload {
                throw StoreError.tooLarge("inline payload (store larger documents as blobs)", b.count, config.maxInlinePayload)
            }
        case .blob(let ref):
            if ref.size > config.maxBlobSize { throw StoreError.tooLarge("blob", Int(ref.size), Int(config.maxBlobSize)) }
        }
    }

    /// Returns `.duplicate` if (sender, client id) is known within the dedupe window.
    func findDuplicate(hash: UInt64, key: DedupeKey, nowMs: Int64) throws -> AppendResult? {
        let list = cell.m.withLock { s in
            (s.dedupe[hash] ?? []).map { ($0, s.segments[$0.location.segmentID]?.handle) }
        }
        if list.isEmpty { return nil }
        return try duplicate(list, key: key)
    }

    /// Reads the candidate records and compares the full key. Does not take the lock.
    func duplicate(_ list: [(DedupeEntry, SegmentHandle?)], key: DedupeKey) throws -> AppendResult? {
        let windowMs = Int64(config.dedupeWindow.components.seconds * 1000)
        let now = nowMs
        for (e, handle) in list where e.appendedAtMs + windowMs > now {
            guard let handle else { continue }
            let (type, body) = try readRecord(handle, e.location)
            let f = try body.withUnsafeBytes { b in
                do { return try RecordBody.decodeDedupeFields(type: type, body: b) } catch {
                    throw StoreError(.corrupt, "undecodable record", file: handle.path, offset: e.location.offset)
                }
            }
            if f.sender == key.sender && f.clientMessageID == key.clientMessageID {
                return .duplicate(messageID: e.messageID, outcome: f.outcome)
            }
        }
        return nil
    }

    /// Reads and verifies one record.
    func readRecord(_ h: SegmentHandle, _ loc: RecordLocation) throws -> (RecordType, [UInt8]) {
        var buf = [UInt8](repeating: 0, count: Int(loc.length))
        let n: Int
        do {
            n = try buf.withUnsafeMutableBytes { b in try io.pread(h.fd, b, offset: loc.offset, path: h.path) }
        } catch let error as FileIOError {
            throw StoreError(.io, "\(error.operation) failed: \(error.reason)", file: h.path, offset: loc.offset)
        }
        return try buf.withUnsafeBytes { b in
            guard n == buf.count, let r = SegmentFormat.record(in: b, at: 0, segmentID: loc.segmentID) else {
                throw StoreError(
                    .corrupt, "record failed its checksum; run scrub and restore from backup",
                    file: h.path, offset: loc.offset)
            }
            return (r.type, [UInt8](r.body))
        }
    }

    /// Reads and decodes the message body at `loc` (append or carry record).
    func readMessage(_ h: SegmentHandle, _ loc: RecordLocation) throws -> AppendBody {
        let (type, body) = try readRecord(h, loc)
        return try body.withUnsafeBytes { b in
            var r = ByteReader(b)
            do {
                if type == .carry { _ = try r.u64() } else if type != .append { throw ByteReader.Truncated() }
                return try RecordBody.decodeAppend(&r)
            } catch {
                throw StoreError(.corrupt, "record is not a message", file: h.path, offset: loc.offset)
            }
        }
    }

    /// Submits a record and waits for it to be durable.
    func submitAndWait(_ type: RecordType, _ body: [UInt8]) async throws -> RecordLocation {
        let crc = CRC32C.checksum(body)
        return try await withCheckedThrowingContinuation { cont in
            let err = cell.m.withLock { s -> StoreError? in
                if s.closed { return StoreError.closed }
                let seq = s.nextSeq
                s.nextSeq += 1
                return writer.submit(
                    PendingWrite(seq: seq, type: type, body: body, bodyCRC: crc) { _, r, _ in
                        cont.resume(with: r)
                    })
            }
            if let err { cont.resume(throwing: err) }
        }
    }

    /// Submits a record while the caller holds the lock. The completion runs on the writer thread.
    func submitLocked(
        _ s: inout StoreState, _ type: RecordType, _ body: [UInt8],
        completion: @escaping @Sendable (inout StoreState, Result<RecordLocation, StoreError>) -> Void
    ) -> StoreError? {
        let seq = s.nextSeq
        s.nextSeq += 1
        return writer.submit(
            PendingWrite(seq: seq, type: type, body: body, bodyCRC: CRC32C.checksum(body)) { s, r, _ in
                completion(&s, r)
            })
    }
}
