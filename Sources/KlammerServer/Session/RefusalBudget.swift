import Synchronization

/// How many refusals one connection may have written to the audit log (SPEC.md §10.4): every reported refusal is an
/// fsynced audit entry, so a client looping refused requests would fill the disk. Within the budget (a
/// ``TokenBucket``: `perSecond`, burst 2 × `perSecond`) each refusal is recorded; the first one beyond it is recorded
/// as one aggregate entry and closes the connection; later ones on that connection are not recorded at all.
final class RefusalBudget: Sendable {
    enum Decision: Equatable {
        /// Record this refusal.
        case record
        /// The budget just ran out: record the aggregate (`refused` refusals so far on this connection), then close.
        case exhausted(refused: Int)
        /// Already exhausted: record nothing.
        case suppress
    }

    let perSecond: Int
    private let state: Mutex<(bucket: TokenBucket, refused: Int, exhausted: Bool)>
    private let start = ContinuousClock.now

    /// `perSecond` 0 turns the budget off.
    init(perSecond: Int) {
        self.perSecond = max(0, perSecond)
        state = Mutex((TokenBucket(ratePerSecond: max(0, perSecond), burst: max(1, 2 * perSecond)), 0, false))
    }

    /// One refusal at `now` (ms; the budget's own clock when nil).
    func refusal(now: Int64? = nil) -> Decision {
        let t = now ?? Int64((ContinuousClock.now - start) / .milliseconds(1))
        return state.withLock { s in
            s.refused += 1
            if s.exhausted { return .suppress }
            if s.bucket.take(now: t) { return .record }
            s.exhausted = true
            return .exhausted(refused: s.refused)
        }
    }
}
