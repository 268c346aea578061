import KlammerBroker
import KlammerProtocol
import Synchronization

/// Every unfinished upload of the broker, by (sender, client message id), so that a sender can resume on a new
/// connection (SPEC.md §4.8, §9.3): SEND_BEGIN with the same sender, client message id, envelope and signature form
/// is answered READY(k) with the k payload bytes durably received, and the upload continues at k.
///
/// A slot is owned by the connection streaming it, or *parked* once that connection closed. A new SEND_BEGIN takes
/// the upload over in either state — also while the old connection has not noticed yet that it is dead (a cut
/// network path is often seen by the new connection first); the old connection then loses it.
///
/// Bounded: at most `maxUploads` parked (the oldest is discarded first), each for at most `lifetime` after its
/// connection ended; then its part file is deleted and it is never delivered. Lives as long as the broker process;
/// a restart loses parked uploads (the sender starts again at 0).
public final class UploadParking: Sendable {
    private let slots = Mutex<[UploadSlot.Key: UploadSlot]>([:])
    private let owners = Atomic<UInt64>(0)
    /// Most uploads parked at once.
    public let maxUploads: Int
    /// How long an upload stays parked.
    public let lifetime: Duration

    /// Creates an empty parking (defaults: 256 uploads, 50 minutes).
    public init(maxUploads: Int = 256, lifetime: Duration = .seconds(3000)) {
        self.maxUploads = maxUploads
        self.lifetime = lifetime
    }

    /// Number of parked uploads.
    public var count: Int { slots.withLock { $0.values.filter { $0.parkedSince != nil }.count } }

    /// A fresh owner token for one connection's request lane (never 0, which marks a parked upload).
    func newOwner() -> UInt64 { owners.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Registers a new upload of connection `owner`, or takes over the unfinished upload of the same envelope and
    /// form. Returns the slot to stream into and the offset for READY (0 for a new upload).
    func begin(
        _ submission: PayloadSubmission, owner: UInt64,
        onLost: (@Sendable () -> Void)? = nil
    ) -> (slot: UploadSlot, offset: UInt64) {
        let key = UploadSlot.Key(sender: submission.envelope.sender, clientMessageID: submission.envelope.clientMessageID)
        let existing = slots.withLock { $0[key] }
        if let existing, existing.envelope == submission.envelope, existing.form == submission.signatureForm {
            // Outside the map's lock: the takeover may wait for an append in progress and fdatasyncs.
            if let offset = existing.takeOver(by: owner, onLost: onLost) {
                submission.abort()
                return (existing, offset)
            }
        }
        let slot = UploadSlot(submission, owner: owner, onLost: onLost)
        let displaced: UploadSlot?? = slots.withLock { map in
            if let current = map[key], current.parkedSince == nil, !current.isExpired(before: .now) {
                // A live connection streams another envelope under this key: leave it, this one is not resumable.
                return .none
            }
            let old = map[key]
            map[key] = slot
            return .some(old)
        }
        if case .some(.some(let old)) = displaced, old !== slot { old.discard() }
        return (slot, 0)
    }

    /// The upload is finished, refused or discarded: forget it.
    func remove(_ slot: UploadSlot) {
        slots.withLock { map in
            if map[slot.key] === slot { map[slot.key] = nil }
        }
    }

    /// Connection `owner` closed: its unfinished uploads with payload bytes are parked, the others discarded.
    func park(_ owned: [UploadSlot], owner: UInt64) {
        var evicted: [UploadSlot] = []
        for slot in owned {
            if slot.park(as: owner) {
                // Parked: it must be the registered upload of its key (else nobody could resume or expire it).
                let orphan = slots.withLock { map -> Bool in
                    if map[slot.key] == nil { map[slot.key] = slot }
                    return map[slot.key] !== slot
                }
                if orphan { evicted.append(slot) }
            } else if slot.isExpired(before: .now) {
                remove(slot)  // empty (discarded by `park`); a slot taken over by another connection stays
            }
        }
        evicted += slots.withLock { map in
            var out = expire(&map)
            let parked = map.filter { $0.value.parkedSince != nil }
            if parked.count > maxUploads {
                let oldest = parked.sorted { $0.value.parkedSince! < $1.value.parkedSince! }.prefix(parked.count - maxUploads)
                for (k, s) in oldest {
                    map[k] = nil
                    out.append(s)
                }
            }
            return out
        }
        for slot in evicted { slot.discard() }
    }

    /// Discards uploads parked for longer than `lifetime` (their part files are deleted); the daemon calls this
    /// periodically, `begin` and `park` on the way.
    public func expireParked() {
        let expired = slots.withLock { expire(&$0) }
        for slot in expired { slot.discard() }
    }

    private func expire(_ map: inout [UploadSlot.Key: UploadSlot]) -> [UploadSlot] {
        let cutoff = ContinuousClock.now - lifetime
        let old = map.filter { $0.value.isExpired(before: cutoff) }
        for k in old.keys { map[k] = nil }
        return Array(old.values)
    }

    deinit {
        for slot in slots.withLock({ $0.values }) where slot.parkedSince != nil { slot.discard() }
    }
}
