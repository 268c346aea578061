import Histogram
import Synchronization

/// Thread-safe latency and error counting for one workload: an HDR histogram in microseconds (1 µs … 1 h, three
/// significant digits), plus counts of completed operations, bytes and errors.
final class LatencyRecorder: Sendable {
    struct Totals {
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        var operations = 0
        var bytes = 0
        var errors = 0
        var firstError: String?
        /// Histogram entries that are lower bounds of messages never sent (open loop cut off), not operations.
        var lowerBounds = 0
    }
    let totals = Mutex(Totals())

    /// Records one completed operation that took `elapsed` and moved `bytes`.
    func record(_ elapsed: Duration, bytes: Int = 0) {
        let micros = UInt64(max(1, elapsed / .microseconds(1)))
        totals.withLock { t in
            _ = t.histogram.record(min(micros, 3_600_000_000))
            t.operations += 1
            t.bytes += bytes
        }
    }

    /// Records a latency of at least `elapsed` for a message that was never sent (not counted as an operation).
    func recordLowerBound(_ elapsed: Duration) {
        let micros = UInt64(max(1, elapsed / .microseconds(1)))
        totals.withLock { t in
            _ = t.histogram.record(min(micros, 3_600_000_000))
            t.lowerBounds += 1
        }
    }

    /// Counts a failed operation (the first message is kept for the report).
    func fail(_ error: any Error) {
        totals.withLock { t in
            t.errors += 1
            if t.firstError == nil { t.firstError = "\(error)" }
        }
    }

    /// Percentile in milliseconds.
    func percentileMillis(_ p: Double) -> Double {
        totals.withLock { t in t.operations + t.lowerBounds == 0 ? 0 : Double(t.histogram.valueAtPercentile(p)) / 1000 }
    }

    var maxMillis: Double { totals.withLock { t in t.operations + t.lowerBounds == 0 ? 0 : Double(t.histogram.max) / 1000 } }
    var operations: Int { totals.withLock { $0.operations } }
    var bytes: Int { totals.withLock { $0.bytes } }
    var errors: Int { totals.withLock { $0.errors } }
    var firstError: String? { totals.withLock { $0.firstError } }
}
