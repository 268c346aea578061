import Dispatch
import Foundation
import Glibc
import Synchronization

/// Rebuilds the in-memory state from the segments on open (SPEC.md §2.6).
enum Recovery {
    struct Output {
        var state: StoreState
        var active: (fd: Int32, path: String, segmentID: UInt64, offset: UInt64, records: UInt64)?
        var report: RecoveryReport
    }

    static func run(config: StoreConfiguration, logDirectory: String, quarantineDirectory: String) throws -> Output {
        let start = ContinuousClock.now
        let io = config.fileIO
        var state = StoreState()
        var report = RecoveryReport()
        var active: Output.Tuple?
        var maxSeq: UInt64 = 0
        let names: [String]
        do { names = try io.listDirectory(logDirectory) } catch {
            throw StoreError(.io, "cannot list \(logDirectory): \(error.reason)")
        }
        let ids = names.compactMap { SegmentFormat.parseFileName($0) }.sorted()
        let q = Quarantine(io: io, directory: quarantineDirectory, nowMs: Int64(config.now().timeIntervalSince1970 * 1000))
        // Phase 1, in parallel over segments: map each file and verify every record's checksum.
        let scans = scanAll(ids: ids, logDirectory: logDirectory, io: io)
        defer { for sc in scans { sc.unmap() } }
        let messageRecords = scans.reduce(0) { n, sc in n + sc.records.reduce(0) { $0 + ($1.type == .append || $1.type == .carry ? 1 : 0) }
        }
        state.messages.reserveCapacity(messageRecords)
        state.dedupe.primary.reserveCapacity(messageRecords)
        for (i, id) in ids.enumerated() {
            let isLast = i == ids.count - 1
            let name = SegmentFormat.fileName(id)
            let path = logDirectory + "/" + name
            let sc = scans[i]
            if let err = sc.error { throw err }
            let size = UInt64(sc.size)
            let fd: Int32
            do {
                fd = try io.open(path, flags: isLast ? O_RDWR : O_RDONLY, mode: 0)
            } catch {
                throw StoreError(.io, "cannot open segment: \(error.reason)", file: path)
            }
            let rbuf = sc.buffer
            let header = SegmentFormat.validateHeader(rbuf)
            var headerOK = false
            var problem = ""
            switch header {
            case .success(let hid):
                headerOK = hid == id
                problem = "segment id \(hid) in header does not match file name"
            case .failure(let p):
                problem = p.description
            }
            if !headerOK {
                io.close(fd)
                let dest = try q.moveFile(path, name: name, logDirectory: logDirectory)
                if isLast && size < UInt64(SegmentFormat.headerSize) {
                    report.incompleteSegments.append(dest)
                } else {
                    report.corruptions.append(
                        CorruptionReport(
                            file: path, offset: 0, length: size, reason: problem,
                            quarantinedAs: dest))
                }
                // Never reuse sequence numbers that may have been handed out from this file.
                maxSeq = max(maxSeq, size < UInt64(SegmentFormat.headerSize) ? id : id + (1 << 24))
                continue
            }
            report.segments += 1
            // Phase 2, in order: apply the verified records.
            let result = sc.result!
            for rec in sc.records {
                let r = SegmentFormat.Scanned(
                    offset: rec.offset, length: rec.length, seq: rec.seq, type: rec.type,
                    body: UnsafeRawBufferPointer(rebasing: rbuf[(rec.offset + SegmentFormat.recordHeaderSize)..<(rec.offset + rec.length)]))
                maxSeq = max(maxSeq, r.seq)
                apply(r, segmentID: id, state: &state)
            }
            report.records += result.records
            for bad in result.badRanges {
                let dest = try q.copyRange(rbuf, bad, name: name)
                report.corruptions.append(
                    CorruptionReport(
                        file: path, offset: UInt64(bad.lowerBound), length: UInt64(bad.count),
                        reason: "records failed checksum; resynchronised at the next valid record", quarantinedAs: dest))
            }
            var end = size
            if let tail = result.tail {
                if isLast && !result.sealed {
                    // Torn write after the last fsync: nothing in it was confirmed. Cut it before appending.
                    do {
                        try io.ftruncate(fd, size: UInt64(tail.lowerBound), path: path)
                        try io.fdatasync(fd, path: path)
                    } catch {
                        io.close(fd)
                        throw StoreError(.io, "cannot truncate torn tail: \(error.reason)", file: path)
                    }
                    report.truncatedTailBytes += UInt64(tail.count)
                    end = UInt64(tail.lowerBound)
                } else {
                    let dest = try q.copyRange(rbuf, tail, name: name)
                    report.corruptions.append(
                        CorruptionReport(
                            file: path, offset: UInt64(tail.lowerBound), length: UInt64(tail.count),
                            reason: "invalid bytes at the end of a sealed segment", quarantinedAs: dest))
                }
            }
            let rfd = (try? io.open(path, flags: O_RDONLY, mode: 0)) ?? -1
            let sealed = result.sealed || !isLast
            state.segments[id] = SegmentInfo(
                handle: SegmentHandle(fd: rfd, path: path, io: io), size: end,
                liveBytes: 0, sealed: sealed)
            if isLast && !result.sealed {
                active = (fd, path, id, end, UInt64(result.records))
            } else {
                io.close(fd)
            }
        }
        // Derived structures.
        state.totalLiveBytes = 0
        for (id, m) in state.messages {
            state.addLive(m.location)
            state.expiry.push((m.expiresAtMs, id))
        }
        for (name, var queue) in state.queues {
            var ready: [UInt64] = []
            for (id, e) in queue.entries where e.state == .ready { ready.append(id) }
            ready.sort()
            queue.fresh.append(contentsOf: ready)
            state.queues[name] = queue
        }
        state.nextSeq = maxSeq + 1
        report.messages = state.messages.count
        report.duration = ContinuousClock.now - start
        return Output(state: state, active: active, report: report)
    }

    static func apply(_ r: SegmentFormat.Scanned, segmentID: UInt64, state s: inout StoreState) {
        let loc = RecordLocation(segmentID: segmentID, offset: UInt64(r.offset), length: UInt32(r.length))
        var rd = ByteReader(r.body)
        do {
            switch r.type {
            case .append, .carry:
                let id = r.type == .carry ? try rd.u64() : r.seq
                let head = try RecordBody.decodeHead(&rd)
                if let old = s.messages[id] {
                    for rc in old.recipients { s.queues[rc]?.entries.removeValue(forKey: id) }
                }
                var states: [CarriedEntry]
                if r.type == .carry {
                    states = try RecordBody.decodeCarryEntries(&rd, count: head.recipients.count)
                } else {
                    states = Array(repeating: CarriedEntry(deadLettered: false, attempts: 0), count: head.recipients.count)
                }
                for (k, rc) in head.recipients.enumerated() {
                    s.queues[rc, default: RecipientQueue()].entries[id] =
                        Entry(state: states[k].deadLettered ? .deadLettered : .ready, attempts: states[k].attempts)
                }
                if !head.recipients.isEmpty {
                    s.messages[id] = MessageMeta(
                        location: loc, expiresAtMs: head.expiresAtMs,
                        appendedAtMs: head.appendedAtMs, dedupeHash: head.dedupeHash,
                        blob: head.blob, recipients: head.recipients)
                }
                s.addDedupe(hash: head.dedupeHash, DedupeEntry(messageID: id, location: loc, appendedAtMs: head.appendedAtMs))
            case .ack, .expire, .purge:
                let id = try rd.u64()
                let rc = try rd.str16()
                _ = s.finishEntry(recipient: rc, messageID: id)
            case .attempt:
                let id = try rd.u64()
                let rc = try rd.str16()
                let n = try rd.u32()
                s.queues[rc]?.entries[id]?.attempts = n
            case .deadLetter:
                let id = try rd.u64()
                let rc = try rd.str16()
                s.queues[rc]?.entries[id]?.state = .deadLettered
            case .replay:
                let id = try rd.u64()
                let rc = try rd.str16()
                if s.queues[rc]?.entries[id] != nil {
                    s.queues[rc]!.entries[id] = Entry(state: .ready, attempts: 0)
                }
            case .tombstone:
                let id = try rd.u64()
                let at = try rd.i64()
                let keyStart = rd.pos
                let sl = Int(try rd.u16()); try rd.need(sl); rd.pos += sl
                let cl = Int(try rd.u16()); try rd.need(cl); rd.pos += cl
                let hash = RecordBody.dedupeHash(UnsafeRawBufferPointer(rebasing: r.body[keyStart..<rd.pos]))
                s.addDedupe(hash: hash, DedupeEntry(messageID: id, location: loc, appendedAtMs: at))
            case .footer:
                break
            }
        } catch {
            // A record with a valid checksum but an undecodable body: written by a newer/buggy version. Skip it.
        }
    }
}

extension Recovery {
    /// A segment mapped into memory with its verified record positions.
    struct SegmentScan: @unchecked Sendable {
        // @unchecked: `base` points to a private read-only mapping created by one scanAll iteration and only read
        // afterwards (by the thread that waits for all iterations); it is unmapped once by `unmap()` at the end.
        var base: UnsafeRawPointer?
        var size: Int = 0
        var records: [Rec] = []
        var result: SegmentFormat.ScanResult?
        var error: StoreError?

        struct Rec {
            var offset: Int
            var length: Int
            var seq: UInt64
            var type: RecordType
        }

        var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: size) }

        func unmap() {
            if let base, size > 0 { munmap(UnsafeMutableRawPointer(mutating: base), size) }
        }
    }

    static func scanAll(ids: [UInt64], logDirectory: String, io: any FileIO) -> [SegmentScan] {
        let results = Mutex([SegmentScan](repeating: SegmentScan(), count: ids.count))
        DispatchQueue.concurrentPerform(iterations: ids.count) { i in
            var sc = SegmentScan()
            let path = logDirectory + "/" + SegmentFormat.fileName(ids[i])
            do {
                let fd = try io.open(path, flags: O_RDONLY, mode: 0)
                defer { io.close(fd) }
                sc.size = Int(try io.fileSize(fd, path: path))
                if sc.size > 0 {
                    guard let p = mmap(nil, sc.size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0), p != MAP_FAILED else {
                        throw FileIOError(operation: "mmap", path: path, errno: errno)
                    }
                    sc.base = UnsafeRawPointer(p)
                }
                if case .success = SegmentFormat.validateHeader(sc.buffer) {
                    var recs: [SegmentScan.Rec] = []
                    recs.reserveCapacity(sc.size / 256)
                    sc.result = SegmentFormat.scan(sc.buffer, segmentID: ids[i]) { r in
                        recs.append(SegmentScan.Rec(offset: r.offset, length: r.length, seq: r.seq, type: r.type))
                    }
                    sc.records = recs
                }
            } catch {
                sc.error = StoreError(.io, "cannot read segment: \(error)", file: path)
            }
            let done = sc
            results.withLock { $0[i] = done }
        }
        return results.withLock { $0 }
    }
}

extension Recovery.Output {
    typealias Tuple = (fd: Int32, path: String, segmentID: UInt64, offset: UInt64, records: UInt64)
}

/// Preserves damaged bytes under `quarantine/`; never deletes anything.
struct Quarantine {
    let io: any FileIO
    let directory: String
    let nowMs: Int64

    /// Moves a whole damaged file into quarantine (rename + fsync of both directories).
    func moveFile(_ path: String, name: String, logDirectory: String) throws -> String {
        let dest = directory + "/" + name + ".\(nowMs).bad"
        do {
            try io.rename(path, dest)
            try io.fsyncDirectory(directory)
            try io.fsyncDirectory(logDirectory)
        } catch {
            throw StoreError(.io, "cannot quarantine damaged segment: \(error.reason)", file: path)
        }
        return dest
    }

    /// Copies a damaged byte range into quarantine (idempotent: same name for the same file and offset).
    func copyRange(_ buf: UnsafeRawBufferPointer, _ range: Range<Int>, name: String) throws -> String {
        let dest = directory + "/" + name + "@\(range.lowerBound).bad"
        let tmp = dest + ".tmp"
        do {
            let fd = try io.open(tmp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
            defer { io.close(fd) }
            try io.pwrite(fd, UnsafeRawBufferPointer(rebasing: buf[range]), offset: 0, path: tmp)
            try io.fdatasync(fd, path: tmp)
            try io.rename(tmp, dest)
            try io.fsyncDirectory(directory)
        } catch {
            throw StoreError(.io, "cannot write quarantine copy: \(error.reason)", file: dest)
        }
        return dest
    }
}
