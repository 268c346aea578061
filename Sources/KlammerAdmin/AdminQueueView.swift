import KlammerStore

/// One queue in `GET /v1/queues`, `GET /v1/queues/{id}` and `status.queues.top`: the admin API's own contract
/// (SPEC.md §11.3), filled from the store's statistics but not tied to their Swift type.
public struct AdminQueueView: Sendable, Equatable, Codable {
    /// The recipient participant id (the queue's name).
    public var recipient: String
    /// Deliverable now.
    public var ready: Int
    /// Leased to a consumer, not yet acknowledged.
    public var inFlight: Int
    /// Waiting for a NACK delay to pass.
    public var delayed: Int
    /// In the dead-letter queue.
    public var deadLettered: Int

    /// Every entry not yet acknowledged, expired or purged (not sent: the client adds it up).
    public var total: Int { ready + inFlight + delayed + deadLettered }

    public init(recipient: String, ready: Int, inFlight: Int, delayed: Int, deadLettered: Int) {
        self.recipient = recipient
        self.ready = ready
        self.inFlight = inFlight
        self.delayed = delayed
        self.deadLettered = deadLettered
    }

    init(_ statistics: QueueStatistics) {
        self.init(
            recipient: statistics.recipient, ready: statistics.ready, inFlight: statistics.inFlight,
            delayed: statistics.delayed, deadLettered: statistics.deadLettered)
    }
}
