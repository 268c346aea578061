public import Foundation

/// Tunables and limits of a store. Defaults suit production; tests shrink sizes and times.
public struct StoreConfiguration: Sendable {
    /// Directory holding `log/`, `blobs/` and `quarantine/`.
    public var directory: String
    /// `.always` (default): confirm after fdatasync. `.batched(maxDelay:)`: confirm after write, sync within maxDelay.
    public var durability: Durability = .always
    /// A segment is sealed and a new one started once it reaches this size.
    public var segmentSize: UInt64 = 64 << 20
    /// Largest number of records written with one write + fdatasync.
    public var maxBatchRecords: Int = 4096
    /// Largest number of bytes written with one write + fdatasync.
    public var maxBatchBytes: Int = 8 << 20
    /// Apply synced batches on a second thread while the writer writes the next batch (default). Turn off to keep
    /// all write-path work on one thread.
    public var pipelinedCompletions = true
    /// Inline payloads larger than this must be stored as blobs.
    public var maxInlinePayload: Int = 1 << 20
    /// Largest envelope.
    public var maxEnvelope: Int = 256 << 10
    /// Largest outcome (dedupe answer).
    public var maxOutcome: Int = 64 << 10
    /// Largest sender / client message id / recipient, in UTF-8 bytes.
    public var maxIDLength: Int = 256
    /// Most recipients per message.
    public var maxRecipients: Int = 1000
    /// Largest blob (documents).
    public var maxBlobSize: UInt64 = 2 << 30
    /// Deliveries before a message is dead-lettered.
    public var maxAttempts: Int = 10
    /// TTL applied when a message has no `expiresAt`.
    public var defaultTTL: Duration = .seconds(7 * 24 * 3600)
    /// How long (sender, clientMessageID) stays deduplicated after the append.
    public var dedupeWindow: Duration = .seconds(7 * 24 * 3600)
    /// Unfinished blob uploads older than this are deleted; finished but never appended blobs too.
    public var blobAbandonTimeout: Duration = .seconds(3600)
    /// Interval of the background maintenance task (redelivery, expiry, compaction, blob sweep). Zero disables it
    /// (tests then call `runMaintenance()`).
    public var maintenanceInterval: Duration = .milliseconds(100)
    /// A sealed segment is compacted when at most this fraction of its bytes is live.
    public var compactionLiveRatio: Double = 0.5
    /// Live records copied forward per compaction step (bounds how long appends wait behind compaction).
    public var compactionStepRecords: Int = 256
    /// The file-I/O layer (injectable for fault tests).
    public var fileIO: any FileIO = PosixFileIO()
    /// Clock (injectable for tests).
    public var now: @Sendable () -> Date = { Date() }

    /// Creates a configuration for `directory` with defaults.
    public init(directory: String) {
        self.directory = directory
    }
}
