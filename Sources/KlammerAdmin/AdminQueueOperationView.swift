import KlammerBroker

/// The answer of `POST /v1/queues/{id}/dead-letters/replay` and `POST /v1/queues/{id}/purge` (SPEC.md §11.3).
public struct AdminQueueOperationView: Sendable, Equatable, Codable {
    public var queue: String
    /// Message ids the operation applied to.
    public var messageIds: [String]
    /// In-flight messages left alone (purge only): they finish with their consumer's ACK or lease timeout.
    public var skippedInFlight: Int

    init(_ result: QueueOperationResult) {
        queue = result.queue
        messageIds = result.messageIds
        skippedInFlight = result.skippedInFlight
    }
}
