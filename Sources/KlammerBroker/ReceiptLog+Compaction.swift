import Foundation
import KlammerProtocol
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one compaction of the receipt log did.
public struct ReceiptCompaction: Sendable, Equatable {
    /// Messages whose routing slips were removed.
    public var messagesRemoved: Int
    /// Messages whose slips remain.
    public var messagesKept: Int
    /// Finished messages past the dedupe window moved to the compact cold index by this run.
    public var messagesMadeCold: Int = 0
    public var bytesBefore: Int64
    public var bytesAfter: Int64
    /// False when there was too little to reclaim and the file was left as it was.
    public var rewritten: Bool
}

extension ReceiptLog {
    /// Moves finished messages accepted before `demoteBefore` to the cold index, then rewrites `receipts.klog`
    /// without the slips of finished messages (accepted, and acknowledged or expired for every recipient) that were
    /// accepted before `cutoffMillis`, if they make up at least `minimumReclaimFraction` of the file. Runs on the writer queue, so no record is appended meanwhile; readers keep reading the old file
    /// until the index switches. Crash-safe: the new file is written and fsynced as `receipts.klog.compact`, then
    /// renamed over the log (and the directory fsynced); a crash before the rename leaves the old log, which open
    /// uses (and deletes the leftover).
    func compact(
        acceptedBefore cutoffMillis: UInt64, demoteBefore: UInt64 = 0,
        minimumReclaimFraction: Double
    ) async throws -> ReceiptCompaction {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ReceiptCompaction, any Error>) in
            queue.async {
                cont.resume(
                    with: Result {
                        try self.compactOnQueue(
                            cutoffMillis: cutoffMillis, demoteBefore: demoteBefore, minimumReclaimFraction: minimumReclaimFraction)
                    })
            }
        }
    }

    private struct Kept {
        var id: MessageID
        var index: Int
        var offset: Int64
        var length: Int32
        var cold: Bool
    }

    private func compactOnQueue(cutoffMillis: UInt64, demoteBefore: UInt64, minimumReclaimFraction: Double) throws -> ReceiptCompaction {
        let plan = try state.withLock { s -> (fd: Int32, drop: Set<MessageID>, keep: [Kept], report: ReceiptCompaction) in
            guard s.fd >= 0 else { throw ProtocolError(.storageUnavailable, "the receipt log is closed") }
            guard !s.poisoned else {
                throw ProtocolError(.storageUnavailable, "an earlier write to the receipt log \(path) failed; the broker must be restarted")
            }
            // On the writer queue, like the rewrite below: the index cannot change between plan and switch.
            let madeCold = Self.demote(&s, acceptedBefore: demoteBefore)
            if madeCold > 0 { s.shrinkTables() }
            // Late receipts of cold messages leave garbage slots; bound them even when no rewrite follows.
            if s.coldGarbage * 4 > s.coldRecords.count { s.packColdRecords() }
            var drop = Set<MessageID>(), dropBytes: Int64 = 0
            for (id, entry) in s.entries where (entry.acceptedAtMillis ?? .max) < cutoffMillis && entry.isFinished {
                drop.insert(id)
                dropBytes += entry.records.reduce(0) { $0 + Int64($1.length) }
            }
            for (id, entry) in s.cold where entry.acceptedAtMillis < cutoffMillis {
                drop.insert(id)
                dropBytes += s.coldRefs(entry).reduce(0) { $0 + Int64(ColdEntry.unpack($1).length) }
            }
            let total = s.entries.count + s.cold.count
            var report = ReceiptCompaction(
                messagesRemoved: 0, messagesKept: total, messagesMadeCold: madeCold,
                bytesBefore: s.fileBytes, bytesAfter: s.fileBytes, rewritten: false)
            guard !drop.isEmpty, Double(dropBytes) >= Double(s.fileBytes) * minimumReclaimFraction else {
                return (s.fd, [], [], report)
            }
            var keep: [Kept] = []
            for (id, entry) in s.entries where !drop.contains(id) {
                for (i, r) in entry.records.enumerated() {
                    keep.append(Kept(id: id, index: i, offset: r.offset, length: r.length, cold: false))
                }
            }
            for (id, entry) in s.cold where !drop.contains(id) {
                for (i, packed) in s.coldRefs(entry).enumerated() {
                    let (offset, length) = ColdEntry.unpack(packed)
                    keep.append(Kept(id: id, index: i, offset: offset, length: length, cold: true))
                }
            }
            keep.sort { $0.offset < $1.offset }
            report.messagesRemoved = drop.count
            report.messagesKept = total - drop.count
            return (s.fd, drop, keep, report)
        }
        guard !plan.drop.isEmpty else { return plan.report }
        // The new file must keep cold offsets packable.
        guard (plan.keep.last.map { $0.offset } ?? 0) < ColdEntry.maxOffset else { return plan.report }

        let target = path + ".compact"
        let out = open(target, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else {
            throw ProtocolError(
                .storageUnavailable, "cannot create \(target) to compact the receipt log: \(String(cString: strerror(errno)))")
        }
        var newOffsets: [Int64] = []
        newOffsets.reserveCapacity(plan.keep.count)
        do {
            var buffer: [UInt8] = []
            var written: Int64 = 0
            for k in plan.keep {
                // Copy the frame as it is (CRC and all), checked against its header on the way.
                let frame = try Self.readBytes(fd: plan.fd, offset: k.offset, count: Int(k.length), path: path)
                guard Self.frame(in: frame, at: 0) != nil else {
                    throw ProtocolError(
                        .storageUnavailable,
                        "the receipt log \(path) is damaged at offset \(k.offset); compaction stopped, the log is unchanged; restore it from a backup"
                    )
                }
                newOffsets.append(written + Int64(buffer.count))
                buffer.append(contentsOf: frame)
                if buffer.count >= Self.maxBatchBytes {
                    try Self.writeFully(out, buffer[...], path: target)
                    written += Int64(buffer.count)
                    buffer.removeAll(keepingCapacity: true)
                }
            }
            try Self.writeFully(out, buffer[...], path: target)
            written += Int64(buffer.count)
            guard fsync(out) == 0 else {
                throw ProtocolError(.storageUnavailable, "cannot fsync \(target): \(String(cString: strerror(errno)))")
            }
            guard rename(target, path) == 0 else {
                throw ProtocolError(
                    .storageUnavailable, "cannot rename \(target) over the receipt log: \(String(cString: strerror(errno)))")
            }
            // From here the new file is the log; a failed directory fsync only means a crash might bring back the old
            // (complete, larger) one.
            Self.fsyncDirectory(of: path)
            var report = plan.report
            report.bytesAfter = written
            report.rewritten = true
            state.withLock { s in
                closeDescriptor(s.fd)
                s.fd = out
                s.fileBytes = written
                for (k, kept) in plan.keep.enumerated() {
                    if kept.cold {
                        s.coldRecords[Int(s.cold[kept.id]!.start) + kept.index] = ColdEntry.pack(newOffsets[k], kept.length)
                    } else {
                        s.entries[kept.id]!.records[kept.index].offset = newOffsets[k]
                    }
                }
                for id in plan.drop {
                    if s.removeCold(id) { continue }
                    guard let entry = s.entries.removeValue(forKey: id) else { continue }
                    let key = Self.dedupeKey(sender: entry.sender, clientMessageID: entry.clientMessageID)
                    if s.byClientID[key] == id { s.byClientID[key] = nil }
                    if let storeID = entry.storeID, s.byStoreID[storeID] == id { s.byStoreID[storeID] = nil }
                }
                s.packColdRecords()
                s.shrinkTables()
            }
            return report
        } catch {
            closeDescriptor(out)
            unlink(target)
            throw error
        }
    }

    private static func fsyncDirectory(of path: String) {
        let dir = open((path as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return }
        _ = fsync(dir)
        closeDescriptor(dir)
    }
}
