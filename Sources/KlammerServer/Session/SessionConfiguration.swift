public import KlammerProtocol

/// The knobs of one broker connection session (SPEC.md §9). Defaults suit production; tests shrink the timeouts.
public struct SessionConfiguration: Sendable {
    /// Limits the broker decodes with and announces in WELCOME (use the broker configuration's limits).
    public var limits: ProtocolLimits
    /// The broker's participant id, announced in WELCOME.
    public var brokerID: ParticipantID
    /// Software name announced in WELCOME.
    public var agent: String = "klammerd/0.1"
    /// No HELLO within this time → ERROR(0, HANDSHAKE_TIMEOUT), close. Default 10 s (SPEC.md §4.5).
    public var helloTimeoutMillis: Int64 = 10_000
    /// How long a GOAWAY'd connection may take to finish its open requests before it is closed anyway. Default 10 s.
    public var drainTimeoutMillis: Int64 = 10_000
    /// Reading pauses while this many unprocessed payload bytes are queued for the store (disk lagging). Default 1 MiB.
    public var maxQueuedUploadBytes: Int = 1 << 20
    /// Reading pauses while this many requests wait for the broker (bounds memory against request floods). Default 32.
    public var maxQueuedRequests: Int = 32
    /// Most uploads open (SEND_BEGIN answered, no SEND_END yet) on one connection; a SEND_BEGIN beyond it is refused
    /// with QUOTA_EXCEEDED (retryable). Each open upload holds up to `maxInlinePayload` bytes of memory or a blob
    /// file descriptor. Default 256 (SPEC.md §9.4).
    public var maxOpenUploadsPerConnection: Int = 256
    /// Most uploads open over all connections of one participant (QUOTA_EXCEEDED beyond). Default 1024.
    public var maxOpenUploadsPerParticipant: Int = 1024
    /// Most uploads open in the whole broker (QUOTA_EXCEEDED beyond); with `limits.max_connections` it sizes the
    /// file descriptors klammerd needs (``DescriptorLimit``). Default 4096.
    public var maxOpenUploads: Int = Self.defaultMaxOpenUploads
    /// The default of ``maxOpenUploads``.
    public static let defaultMaxOpenUploads = 4096
    /// Requests (SEND_BEGIN, ACK, NACK, STATUS_REQUEST, DIRECTORY_LOOKUP) per second per participant over all its
    /// connections, burst twice that; beyond, ERROR(id, RATE_LIMITED) with the wait. 0 turns it off. Default 10,000.
    public var maxRequestsPerSecond: Int = 10_000
    /// Refusals recorded in the audit log per second per connection, burst twice that; the first one beyond closes
    /// the connection with RATE_LIMITED and one aggregate entry. 0 turns it off. Default 10.
    public var maxRefusalsPerSecond: Int = 10
    /// Most messages leased per push-delivery round. Default 16.
    public var pushBatch: Int = 16
    /// A subscription with credit re-checks its queue at least this often (new messages from this broker wake it at
    /// once; this catches redeliveries after a NACK delay or a lease timeout). Default 1000 ms.
    public var pollIntervalMillis: Int64 = 1_000
    /// How long a leased message stays invisible to others before it is redelivered. Default 300 s.
    public var leaseVisibilitySeconds: Int64 = 300
    /// Upper bound of a NACK's retry-after (longer requests are cut to this). Default 24 h.
    public var maxNackDelayMillis: UInt32 = 86_400_000

    /// Creates a configuration; `limits` must validate.
    public init(limits: ProtocolLimits, brokerID: ParticipantID) {
        self.limits = limits
        self.brokerID = brokerID
    }

    /// The heartbeat interval (0 = none), announced in WELCOME.
    public var heartbeatMillis: Int64 { Int64(limits.heartbeatIntervalMillis) }
}
