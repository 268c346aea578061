import Metrics

/// The store's metrics (swift-metrics; klammerd exports them for Prometheus).
///
/// The handles are computed, not stored: a handle binds to the metrics backend when it is created, and the store may
/// be opened before (tests) or after `MetricsSystem.bootstrap`. The lookup is one dictionary access per event, and
/// the events here are per batch or per message, never per byte.
enum StoreMetrics {
    /// How long each `fdatasync` of the log took.
    static var fsyncDuration: Timer { Timer(label: "klammer_store_fsync_seconds") }
    /// Records per group-commit batch (one pwrite, at most one fdatasync).
    static var batchRecords: Recorder { Recorder(label: "klammer_store_group_commit_batch_records", aggregate: true) }
    /// Deliveries of a message that was delivered before (lease timeout, NACK, disconnect, replay).
    static var redeliveries: Counter { Counter(label: "klammer_store_redeliveries_total") }
    /// Entries moved to a dead-letter queue after `maxAttempts`.
    static var deadLettered: Counter { Counter(label: "klammer_store_dead_lettered_total") }
    /// Entries that expired before they were acknowledged.
    static var expired: Counter { Counter(label: "klammer_store_expired_total") }

    /// Runs `body` (an fdatasync) and records its duration.
    static func timedSync<T>(_ body: () throws -> T) rethrows -> T {
        let start = ContinuousClock.now
        defer { fsyncDuration.recordInterval(start.duration(to: .now)) }
        return try body()
    }
}

extension Timer {
    /// Records a `Duration` (swift-metrics takes nanoseconds).
    func recordInterval(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
