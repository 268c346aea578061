import Foundation
import Glibc
import Synchronization

extension KlammerStore {
    /// One maintenance pass: redeliver timed-out leases and due nacks, expire messages, sweep abandoned blob uploads,
    /// and compact the oldest sealed segment if it is mostly dead. Runs every `maintenanceInterval`; tests call it.
    public func runMaintenance() async {
        let now = nowMs
        cell.m.withLock { s in
            guard !s.closed else { return }
            for (name, q) in s.queues where !q.waiting.isEmpty {
                let due = q.waiting.filter { $0.value <= now }.map(\.key).sorted()
                for id in due { makeAvailableLocked(&s, recipient: name, messageID: id, nowMs: now) }
            }
            while let top = s.expiry.top, top.0 <= now {
                _ = s.expiry.pop()
                guard let m = s.messages[top.1], m.expiresAtMs == top.0 else { continue }
                for r in m.recipients {
                    guard let e = s.queues[r]?.entries[top.1] else { continue }
                    switch e.state {
                    case .ready, .delayed: expireLocked(&s, recipient: r, messageID: top.1)
                    case .inFlight, .deadLettered: break  // expired when it comes back; DLQ is kept for the operator
                    }
                }
            }
        }
        sweepAbandonedUploads()
        _ = try? await compactOnce()
    }

    /// Copies the live messages of the oldest sealed segment forward (in steps of `compactionStepRecords`), writes
    /// dedupe tombstones for finished messages still inside the dedupe window, waits until that is durable, then
    /// deletes the segment and fsyncs the directory. Returns true if a segment was reclaimed.
    @discardableResult
    public func compactOnce() async throws -> Bool {
        let windowMs = config.dedupeWindow.components.seconds * 1000
        let now = nowMs
        let picked = cell.m.withLock { s -> UInt64? in
            guard !s.closed, !s.compacting,
                let oldest = s.segments.keys.min(), let info = s.segments[oldest], info.sealed,
                s.segments.count > 1
            else { return nil }
            let total = s.segments.values.reduce(UInt64(0)) { $0 + $1.size }
            guard
                Double(info.liveBytes) <= config.compactionLiveRatio * Double(max(info.size, 1))
                    || total > 2 * s.totalLiveBytes + 2 * config.segmentSize
            else { return nil }
            s.compacting = true
            return oldest
        }
        guard let segment = picked else { return false }
        defer { cell.m.withLock { $0.compacting = false } }
        let step = max(1, config.compactionStepRecords)
        // Everything that can refer to this segment is a message/carry/tombstone record inside it: read them from
        // disk without holding the lock, so the lock is held for O(records in the segment), not O(all messages).
        let candidates = try referencesIn(segment: segment)
        // Repeat until nothing refers to the segment: a message can die (ack) while it is being carried, and then
        // needs a dedupe tombstone instead. The check and the removal happen under one lock.
        for _ in 0..<8 {
            let next = cell.m.withLock { s -> ([UInt64], [(UInt64, UInt64)], String?) in
                var ids: [UInt64] = []
                var dd: [(UInt64, UInt64)] = []
                for (id, hash) in candidates {
                    if let m = s.messages[id] {
                        if m.location.segmentID == segment { ids.append(id) }
                    } else if let e = s.dedupe[hash]?.first(where: { $0.messageID == id && $0.location.segmentID == segment }),
                        e.appendedAtMs + windowMs > now
                    {
                        dd.append((hash, id))
                    }
                }
                if !ids.isEmpty || !dd.isEmpty { return (ids, dd, nil) }
                // Only dedupe entries past their window still point here: drop them with the segment.
                for (id, hash) in candidates {
                    s.dedupe.remove(hash: hash) { $0.messageID == id && $0.location.segmentID == segment }
                }
                return ([], [], s.segments.removeValue(forKey: segment)?.handle.path)
            }
            if let path = next.2 {
                do {
                    try io.unlink(path)
                    try io.fsyncDirectory(logDirectory)
                } catch {
                    logger.error("compaction could not delete \(path): \(error)")
                }
                return true
            }
            var k = 0
            while k < next.0.count {
                try await carry(Array(next.0[k..<min(next.0.count, k + step)]), from: segment)
                k += step
            }
            k = 0
            while k < next.1.count {
                try await tombstones(
                    Array(next.1[k..<min(next.1.count, k + step)]), from: segment, now: now,
                    windowMs: windowMs)
                k += step
            }
        }
        return false
    }

    /// (message id, dedupe hash) of every append, carry and tombstone record in a segment.
    func referencesIn(segment: UInt64) throws -> [(UInt64, UInt64)] {
        guard let h = cell.m.withLock({ $0.segments[segment]?.handle }) else { return [] }
        let size: Int
        do { size = Int(try io.fileSize(h.fd, path: h.path)) } catch {
            throw StoreError(.io, "\(error.operation) failed: \(error.reason)", file: h.path)
        }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buf.deallocate() }
        let n: Int
        do { n = try io.pread(h.fd, buf, offset: 0, path: h.path) } catch {
            throw StoreError(.io, "\(error.operation) failed: \(error.reason)", file: h.path)
        }
        var out: [(UInt64, UInt64)] = []
        _ = SegmentFormat.scan(UnsafeRawBufferPointer(rebasing: buf[0..<n]), segmentID: segment) { r in
            var rd = ByteReader(r.body)
            switch r.type {
            case .append:
                if let head = try? RecordBody.decodeHead(&rd) { out.append((r.seq, head.dedupeHash)) }
            case .carry:
                if let id = try? rd.u64(), let head = try? RecordBody.decodeHead(&rd) { out.append((id, head.dedupeHash)) }
            case .tombstone:
                if let id = try? rd.u64(), (try? rd.i64()) != nil {
                    let start = rd.pos
                    if let sl = try? rd.u16(), (try? rd.need(Int(sl))) != nil {
                        rd.pos += Int(sl)
                        if let cl = try? rd.u16(), (try? rd.need(Int(cl))) != nil {
                            rd.pos += Int(cl)
                            out.append((id, RecordBody.dedupeHash(UnsafeRawBufferPointer(rebasing: r.body[start..<rd.pos]))))
                        }
                    }
                }
            default:
                break
            }
        }
        return out
    }

    private func carry(_ ids: [UInt64], from segment: UInt64) async throws {
        let located = cell.m.withLock { s in
            ids.compactMap { id -> (UInt64, RecordLocation, SegmentHandle)? in
                guard let m = s.messages[id], m.location.segmentID == segment,
                    let h = s.segments[segment]?.handle
                else { return nil }
                return (id, m.location, h)
            }
        }
        var bodies: [(UInt64, RecordLocation, AppendBody)] = []
        for (id, loc, h) in located { bodies.append((id, loc, try readMessage(h, loc))) }
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let err = cell.m.withLock { s -> StoreError? in
                var submitted = 0
                let total = bodies.count
                let done = Countdown(total: total, cont: cont)
                for (id, oldLoc, var body) in bodies {
                    guard let m = s.messages[id], m.location == oldLoc else { done.tick(nil); continue }
                    body.recipients = m.recipients
                    let entries = m.recipients.map { r -> CarriedEntry in
                        let e = s.queues[r]?.entries[id]
                        return CarriedEntry(deadLettered: e?.state == .deadLettered, attempts: e?.attempts ?? 0)
                    }
                    let bytes = RecordBody.encodeCarry(messageID: id, body: body, entries: entries)
                    let hash = m.dedupeHash
                    let appendedAt = m.appendedAtMs
                    if let e = submitLocked(
                        &s, .carry, bytes,
                        completion: { s, r in
                            if case .success(let loc) = r {
                                do {
                                    if let m = s.messages[id], m.location == oldLoc {
                                        s.removeLive(oldLoc)
                                        s.messages[id]!.location = loc
                                        s.addLive(loc)
                                    }
                                    if s.dedupe[hash]?.contains(where: { $0.messageID == id && $0.location == oldLoc }) == true {
                                        s.addDedupe(hash: hash, DedupeEntry(messageID: id, location: loc, appendedAtMs: appendedAt))
                                    }
                                }
                                done.tick(nil)
                            } else if case .failure(let e) = r {
                                done.tick(e)
                            }
                        })
                    {
                        for _ in submitted..<total { done.tick(e) }
                        return nil
                    }
                    submitted += 1
                }
                return nil
            }
            if let err { cont.resume(throwing: err) }
        }
    }

    private func tombstones(_ items: [(UInt64, UInt64)], from segment: UInt64, now: Int64, windowMs: Int64) async throws {
        let located = cell.m.withLock { s in
            items.compactMap { (hash, id) -> (UInt64, DedupeEntry, SegmentHandle)? in
                guard let e = s.dedupe[hash]?.first(where: { $0.messageID == id && $0.location.segmentID == segment }),
                    let h = s.segments[segment]?.handle
                else { return nil }
                return (hash, e, h)
            }
        }
        var records: [(UInt64, DedupeEntry, [UInt8])] = []
        for (hash, e, h) in located where e.appendedAtMs + windowMs > now {
            let (type, body) = try readRecord(h, e.location)
            let f = try body.withUnsafeBytes { b in
                do { return try RecordBody.decodeDedupeFields(type: type, body: b) } catch {
                    throw StoreError(.corrupt, "undecodable record", file: h.path, offset: e.location.offset)
                }
            }
            records.append(
                (
                    hash, e,
                    RecordBody.encodeTombstone(
                        messageID: e.messageID, appendedAtMs: e.appendedAtMs,
                        sender: f.sender, clientMessageID: f.clientMessageID,
                        outcome: f.outcome)
                ))
        }
        if records.isEmpty { return }
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            cell.m.withLock { s in
                let done = Countdown(total: records.count, cont: cont)
                for (i, (hash, e, bytes)) in records.enumerated() {
                    if let err = submitLocked(
                        &s, .tombstone, bytes,
                        completion: { s, r in
                            if case .success(let loc) = r {
                                do {
                                    s.addDedupe(
                                        hash: hash,
                                        DedupeEntry(
                                            messageID: e.messageID, location: loc,
                                            appendedAtMs: e.appendedAtMs))
                                }
                                done.tick(nil)
                            } else if case .failure(let x) = r {
                                done.tick(x)
                            }
                        })
                    {
                        for _ in i..<records.count { done.tick(err) }
                        return
                    }
                }
            }
        }
    }
}

/// Resumes a continuation after `total` ticks, with the first error if any.
final class Countdown: Sendable {
    struct S { var left: Int; var error: StoreError?; var cont: CheckedContinuation<Void, any Error>? }
    let s: Mutex<S>

    init(total: Int, cont: CheckedContinuation<Void, any Error>) {
        s = Mutex(S(left: total, error: nil, cont: cont))
        if total == 0 { tick(nil, force: true) }
    }

    func tick(_ e: StoreError?, force: Bool = false) {
        let fire = s.withLock { st -> (CheckedContinuation<Void, any Error>, StoreError?)? in
            if !force { st.left -= 1 }
            if st.error == nil { st.error = e }
            guard st.left <= 0, let c = st.cont else { return nil }
            st.cont = nil
            return (c, st.error)
        }
        if let (c, e) = fire {
            if let e { c.resume(throwing: e) } else { c.resume() }
        }
    }
}
