import DequeModule

/// An open read-only descriptor of a segment file; closed when the last reader drops it.
final class SegmentHandle: Sendable {
    let fd: Int32
    let path: String
    let io: any FileIO

    init(fd: Int32, path: String, io: any FileIO) {
        self.fd = fd
        self.path = path
        self.io = io
    }

    deinit { io.close(fd) }
}

/// Bookkeeping for one segment.
struct SegmentInfo {
    var handle: SegmentHandle
    var size: UInt64
    var liveBytes: UInt64
    var sealed: Bool
}

/// In-memory index entry of a message with at least one non-terminal recipient entry.
struct MessageMeta {
    /// Record holding the message (its append record, or its latest carry record after compaction).
    var location: RecordLocation
    var expiresAtMs: Int64
    var appendedAtMs: Int64
    var dedupeHash: UInt64
    var blob: BlobReference?
    /// Recipients whose entry is not yet terminal (acked / expired / purged).
    var recipients: [String]
}

/// State of one recipient's entry for one message.
enum EntryState: Equatable {
    case ready
    case inFlight(consumer: ConsumerID, token: UInt64, deadlineMs: Int64)
    case delayed(untilMs: Int64)
    case deadLettered
}

struct Entry {
    var state: EntryState
    var attempts: UInt32
}

/// One recipient's queue. Ready entries are delivered lowest message id first, which keeps per-sender FIFO order.
struct RecipientQueue {
    var entries: [UInt64: Entry] = [:]
    /// Ready ids in ascending order as appended (lazily cleaned: an id whose entry is no longer ready is skipped).
    var fresh: Deque<UInt64> = []
    /// Ready ids that came back (nack, timeout, disconnect, replay), kept sorted ascending.
    var returned: [UInt64] = []
    /// In-flight and delayed ids with their deadline.
    var waiting: [UInt64: Int64] = [:]

    mutating func insertReturned(_ id: UInt64) {
        var lo = 0, hi = returned.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if returned[mid] < id { lo = mid + 1 } else { hi = mid }
        }
        if lo < returned.count && returned[lo] == id { return }
        returned.insert(id, at: lo)
    }

    /// Whether a ready entry exists. Drops stale ids at the fronts on the way, so the cost is proportional to the
    /// stale ids removed (each is removed once), not to the queue's depth.
    mutating func hasReady() -> Bool {
        while let f = fresh.first, entries[f]?.state != .ready { fresh.removeFirst() }
        if !fresh.isEmpty { return true }
        while let r = returned.first, entries[r]?.state != .ready { returned.removeFirst() }
        return !returned.isEmpty
    }

    /// Removes and returns the lowest ready id.
    mutating func popReady() -> UInt64? {
        while true {
            let f = fresh.first, r = returned.first
            let id: UInt64
            switch (f, r) {
            case (nil, nil): return nil
            case (let f?, nil): id = f; fresh.removeFirst()
            case (nil, let r?): id = r; returned.removeFirst()
            case (let f?, let r?):
                if f <= r { id = f; fresh.removeFirst() } else { id = r; returned.removeFirst() }
                if f == r { fresh.removeFirst() }
            }
            if entries[id]?.state == .ready { return id }
        }
    }
}

/// A (sender, client message id) seen within the dedupe window.
struct DedupeEntry {
    var messageID: UInt64
    /// Record carrying sender, client id and outcome (append, carry or tombstone).
    var location: RecordLocation
    var appendedAtMs: Int64
}

/// (sender, client id) hash → entry. One entry per hash without an array allocation; the rare second key with the
/// same 64-bit hash goes to `overflow` (lookups always compare the full key read from disk).
struct DedupeIndex {
    var primary: [UInt64: DedupeEntry] = [:]
    var overflow: [UInt64: [DedupeEntry]] = [:]

    subscript(hash: UInt64) -> [DedupeEntry]? {
        guard let p = primary[hash] else { return nil }
        return [p] + (overflow[hash] ?? [])
    }

    mutating func insert(hash: UInt64, _ e: DedupeEntry) {
        guard let p = primary[hash], p.messageID != e.messageID else { primary[hash] = e; return }
        var list = overflow[hash] ?? []
        if let i = list.firstIndex(where: { $0.messageID == e.messageID }) { list[i] = e } else { list.append(e) }
        overflow[hash] = list
    }

    func forEach(_ body: (UInt64, DedupeEntry) -> Void) {
        for (h, e) in primary { body(h, e) }
        for (h, list) in overflow { for e in list { body(h, e) } }
    }

    mutating func remove(hash: UInt64, where pred: (DedupeEntry) -> Bool) {
        if var list = overflow[hash] {
            list.removeAll(where: pred)
            overflow[hash] = list.isEmpty ? nil : list
        }
        if let p = primary[hash], pred(p) {
            if var list = overflow[hash], !list.isEmpty {
                primary[hash] = list.removeFirst()
                overflow[hash] = list.isEmpty ? nil : list
            } else {
                primary[hash] = nil
            }
        }
    }

    mutating func removeAll(where pred: (DedupeEntry) -> Bool) {
        for (h, list) in overflow {
            let kept = list.filter { !pred($0) }
            if kept.count != list.count { overflow[h] = kept.isEmpty ? nil : kept }
        }
        for (h, e) in primary where pred(e) {
            if var list = overflow[h], !list.isEmpty {
                primary[h] = list.removeFirst()
                overflow[h] = list.isEmpty ? nil : list
            } else {
                primary[h] = nil
            }
        }
    }
}

/// Full key for appends still waiting for their fsync (duplicates of those wait for the original).
struct DedupeKey: Hashable {
    var sender: String
    var clientMessageID: String
}

/// Minimal binary min-heap of (expiresAtMs, messageID).
struct ExpiryHeap {
    var items: [(Int64, UInt64)] = []

    var top: (Int64, UInt64)? { items.first }

    mutating func push(_ e: (Int64, UInt64)) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if items[p].0 <= items[i].0 { break }
            items.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> (Int64, UInt64)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let out = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].0 < items[m].0 { m = l }
            if r < items.count && items[r].0 < items[m].0 { m = r }
            if m == i { break }
            items.swapAt(m, i)
            i = m
        }
        return out
    }
}

/// Everything the store keeps in memory; guarded by the store's mutex. Rebuilt from the log on open.
struct StoreState {
    var nextSeq: UInt64 = 1
    var closed = false
    var messages: [UInt64: MessageMeta] = [:]
    var queues: [String: RecipientQueue] = [:]
    var dedupe = DedupeIndex()
    var pendingDedupe: [DedupeKey: [CheckedContinuation<AppendResult, any Error>]] = [:]
    var segments: [UInt64: SegmentInfo] = [:]
    var expiry = ExpiryHeap()
    var consumers: [ConsumerID: Set<LeaseRef>] = [:]
    var nextLeaseToken: UInt64 = 1
    var compacting = false
    var totalLiveBytes: UInt64 = 0

    struct LeaseRef: Hashable {
        var recipient: String
        var messageID: UInt64
    }

    mutating func addLive(_ loc: RecordLocation) {
        segments[loc.segmentID]?.liveBytes += UInt64(loc.length)
        totalLiveBytes += UInt64(loc.length)
    }

    mutating func removeLive(_ loc: RecordLocation) {
        if var s = segments[loc.segmentID] {
            s.liveBytes -= min(s.liveBytes, UInt64(loc.length))
            segments[loc.segmentID] = s
        }
        totalLiveBytes -= min(totalLiveBytes, UInt64(loc.length))
    }

    /// Removes a recipient's entry (terminal: acked/expired/purged). Returns the message meta if that was the last
    /// live entry (the message is then dead; its blob may be deleted once the terminal record is durable).
    mutating func finishEntry(recipient: String, messageID: UInt64) -> MessageMeta? {
        // Mutated in place: a `var q = queues[recipient]` copy would share the entries' storage and make every
        // removal copy the whole queue (O(depth) per ACK).
        if queues[recipient] != nil {
            if let e = queues[recipient]!.entries.removeValue(forKey: messageID), case .inFlight(let c, _, _) = e.state {
                consumers[c]?.remove(LeaseRef(recipient: recipient, messageID: messageID))
            }
            queues[recipient]!.waiting.removeValue(forKey: messageID)
        }
        guard var m = messages[messageID] else { return nil }
        m.recipients.removeAll { $0 == recipient }
        if m.recipients.isEmpty {
            messages.removeValue(forKey: messageID)
            removeLive(m.location)
            return m
        }
        messages[messageID] = m
        return nil
    }

    mutating func addDedupe(hash: UInt64, _ e: DedupeEntry) {
        dedupe.insert(hash: hash, e)
    }
}
