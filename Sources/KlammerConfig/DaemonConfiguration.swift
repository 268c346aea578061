/// The validated configuration of `klammerd --config FILE` (SPEC.md §12): every value typed, in range and
/// consistent with the others. Paths are absolute (relative paths in the file are resolved against the file's
/// directory). Build it with ``load(file:environment:)``.
public struct DaemonConfiguration: Sendable, Equatable {
    /// How the store confirms appends. Only `always`: the store's `batched` mode (confirm before fsync) would let the
    /// broker sign `accepted` receipts for messages a crash can lose, so the configuration refuses it (SPEC.md §7.2).
    public enum Durability: Sendable, Equatable {
        /// fdatasync before every confirmation (group commit).
        case always
    }

    /// `tls.*`: the broker's certificate and whom it trusts.
    public struct TLS: Sendable, Equatable {
        /// PEM file with the trust anchors (CA certificates) participant certificates must chain to.
        public var caBundle: String
        /// PEM files with the CAs' current CRLs.
        public var crlFiles: [String]
        /// Whether every certificate must be covered by a current CRL (fail closed; SPEC §3.4).
        public var requireCRL: Bool
        /// PEM file: the broker certificate, then any intermediates.
        public var certificate: String
        /// PEM file: the broker's private key (mode 0600).
        public var key: String
        /// Whether TLS 1.2 (ECDHE + AES-GCM only) is accepted besides TLS 1.3.
        public var allowTLS12: Bool
        /// Handshake plus authorization must finish within this many seconds.
        public var handshakeTimeoutSeconds: Int
    }

    /// `store.*`: the durable message store.
    public struct Store: Sendable, Equatable {
        public var durability: Durability
        /// Largest document (payload) accepted, in bytes.
        public var maxDocumentBytes: Int
        /// Time to live of a message without its own expiry, in seconds.
        public var defaultTTLSeconds: Int
        /// Delivery attempts before an entry is dead-lettered.
        public var maxAttempts: Int
        /// Most messages queued for one recipient before SEND_BEGIN to it gets QUOTA_EXCEEDED (0: off).
        public var maxQueuedMessagesPerRecipient: Int = 100_000
        /// How long a delivered but unacknowledged message stays invisible to other fetches, in seconds.
        public var visibilityTimeoutSeconds: Int
        /// How long an upload that was cut off stays resumable, in seconds; then its partial payload is deleted and
        /// it is never delivered (SPEC.md §4.8).
        public var partialUploadTimeoutSeconds: Int = 86400
        /// Free space kept in reserve on the data and store file systems (`store.free_space_reserve_bytes`): new
        /// submissions are refused with the retryable `STORAGE_FULL` before they would cut into it (SPEC.md §7.1).
        public var freeSpaceReserveBytes: Int = 64 << 20
    }

    /// `admin.tls.*`: the admin API served over mutual TLS besides the Unix socket, for the admin certificates listed.
    public struct AdminTLS: Sendable, Equatable {
        /// Address to listen on (`admin.tls.listen`, the part before the last `:`).
        public var host: String
        /// Port (0 picks a free one, shown in the start-up banner).
        public var port: Int
        /// Lowercase hex SHA-256 fingerprints (64 digits, no colons) of the client certificates admitted.
        public var clientFingerprints: [String]
    }

    /// `limits.*`: connection-level bounds.
    public struct Limits: Sendable, Equatable {
        /// Largest wire frame, in bytes.
        public var maxFrameBytes: Int
        /// Most concurrent participant connections.
        public var maxConnections: Int
        /// Most uploads open (SEND_BEGIN answered, no SEND_END yet) on one connection (SPEC.md §9.4).
        public var maxOpenUploadsPerConnection: Int = 256
        /// Most uploads open over all connections of one participant.
        public var maxOpenUploadsPerParticipant: Int = 1024
        /// Most uploads open in the whole broker (each may hold a blob file descriptor).
        public var maxOpenUploads: Int = 4096
        /// Requests per second per participant (0: off).
        public var maxRequestsPerSecond: Int = 10_000
        /// Audit-logged refusals per second per connection before it is closed (0: off).
        public var maxRefusalsPerSecond: Int = 10
    }

    /// The broker's participant id, written into every receipt (e.g. `broker:klammer-1`).
    public var brokerID: String
    public var listenHost: String
    /// 0 picks a free port (tests).
    public var listenPort: Int
    /// The broker's data directory (registry, store, receipts, audit log, admin socket by default).
    public var dataDirectory: String
    public var tls: TLS
    public var store: Store
    public var limits: Limits
    /// The admin API's Unix socket (mode 0600).
    public var adminSocket: String
    /// The admin API over mutual TLS (`admin.tls.*`), or nil when off (the default).
    public var adminTLS: AdminTLS? = nil
    /// Prometheus metrics port on 127.0.0.1, or nil when off.
    public var metricsPort: Int?
    /// `/healthz` reports unhealthy once the broker certificate expires in fewer than this many days.
    public var minimumCertificateDays: Int = 14
    /// trace, debug, info, notice, warning, error or critical.
    public var logLevel: String
    /// A broker-signed checkpoint is appended to the audit log after this many entries.
    public var auditCheckpointInterval: Int
    /// How long clients may use a directory answer (its "valid until" = issue time + this; SPEC.md §5.11).
    public var directoryTTLSeconds: Int = 3600
    /// Days the routing slip of a finished message is kept after its acceptance before compaction removes it
    /// (SPEC.md §7.4); at least the 7-day dedupe window.
    public var receiptRetentionDays: Int = 90
    /// How far an envelope's `created at` may be ahead of the broker clock (`envelope.max_clock_skew_seconds`, §7.1).
    public var maxClockSkewSeconds: Int = 300
    /// How far an envelope's `created at` may be behind the broker clock (`envelope.max_age_seconds`).
    public var maxEnvelopeAgeSeconds: Int = 604_800
    /// Largest time to live an envelope may ask for (`envelope.max_ttl_seconds`).
    public var maxTimeToLiveSeconds: Int = 7_776_000

    /// The audit log file inside the data directory.
    public var auditLogPath: String { dataDirectory + "/audit.jsonl" }
    /// The participant registry inside the data directory.
    public var registryPath: String { dataDirectory + "/registry.json" }
    /// The store directory inside the data directory.
    public var storeDirectory: String { dataDirectory + "/store" }
    /// The broker's own files (routing slip) inside the data directory.
    public var brokerDirectory: String { dataDirectory + "/broker" }
}
