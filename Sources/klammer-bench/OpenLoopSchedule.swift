import Synchronization

/// The send times of an open-loop run: message i is due at `start + i / rate`, whatever happened to the ones before
/// it. Latency is measured from that intended time, not from the moment a send slot got to it, so a stalled broker
/// shows up in the percentiles instead of silently lowering the offered load (coordinated omission).
///
/// The messages are split over `lanes` (one per producer connection): lane c gets indices c, c + lanes, c + 2·lanes…,
/// so every connection carries 1/lanes of the rate and takes its messages in its own order (batch members together).
final class OpenLoopSchedule: Sendable {
    let start: ContinuousClock.Instant
    let rate: Int
    let count: Int
    let lanes: Int
    private let next: Mutex<[Int]>

    /// `rate` messages per second for `duration`: `count = rate × duration` messages in all.
    init(start: ContinuousClock.Instant, rate: Int, duration: Duration, lanes: Int) {
        self.start = start
        self.rate = max(1, rate)
        self.count = max(1, Int((Double(self.rate) * (duration / .seconds(1))).rounded()))
        self.lanes = max(1, lanes)
        next = Mutex([Int](repeating: 0, count: self.lanes))
    }

    /// When message `index` is due.
    func intended(_ index: Int) -> ContinuousClock.Instant {
        // Integer nanoseconds from the start (no accumulated rounding error over a long run).
        start + .nanoseconds(Int64(index) * 1_000_000_000 / Int64(rate))
    }

    /// The next message of `lane` and when it is due; nil when the lane has sent its share.
    func take(lane: Int) -> (index: Int, due: ContinuousClock.Instant)? {
        let index: Int? = next.withLock { next in
            let index = next[lane] * lanes + lane
            guard index < count else { return nil }
            next[lane] += 1
            return index
        }
        return index.map { ($0, intended($0)) }
    }

    /// Messages never taken (a run cut off before its schedule finished), with the time each was due.
    func untaken() -> [ContinuousClock.Instant] {
        let taken = next.withLock { $0 }
        var due: [ContinuousClock.Instant] = []
        for lane in 0..<lanes {
            var index = taken[lane] * lanes + lane
            while index < count {
                due.append(intended(index))
                index += lanes
            }
        }
        return due
    }
}
