public import Foundation
public import KlammerProtocol
public import KlammerStore

/// A queued message as operators see it: the envelope's routing fields and the queue state, never the payload.
public struct QueuedEnvelope: Sendable, Equatable, Codable {
    /// The broker-assigned message id (32 hex digits).
    public var messageId: String
    public var sender: String
    public var recipients: [String]
    public var clientMessageId: String
    public var subject: String
    public var contentType: String
    public var payloadLength: UInt64
    public var acceptedAt: Date
    /// Deliveries so far.
    public var attempts: Int
    /// `queued` (ready or delayed), `in_flight` or `dead_lettered`.
    public var state: String
}

/// Every receipt of one message, in the order they were issued (the routing slip, SPEC.md §7.4).
public struct MessageTrace: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        /// `accepted`, `delivered`, `acknowledged`, `expired`, `dead_lettered`, …
        public var kind: String
        /// The recipient the receipt is about (nil for `accepted`).
        public var recipient: String?
        public var timestamp: Date
        /// The error code name for negative receipts.
        public var reason: String?
    }

    public var messageId: String
    public var sender: String
    public var clientMessageId: String
    public var recipients: [String]
    public var receipts: [Entry]
}

/// The outcome of replaying or purging messages of one queue.
public struct QueueOperationResult: Sendable, Equatable, Codable {
    public var queue: String
    /// Message ids the operation applied to.
    public var messageIds: [String]
    /// In-flight messages left alone (purge only): they finish with their consumer's ACK or lease timeout.
    public var skippedInFlight: Int
}

extension Broker {
    /// Most entries returned or changed by one operator call.
    public static let maxOperationEntries = 10_000

    /// Entry counts of every queue.
    public func queueStatistics() -> [QueueStatistics] { store.queueStatistics() }

    /// The queue of `recipient` in delivery order (or its dead-letter queue), envelopes only.
    public func peek(queue recipient: String, limit: Int, deadLettered: Bool = false) throws -> [QueuedEnvelope] {
        let limit = min(max(limit, 0), Self.maxOperationEntries)
        let entries =
            deadLettered
            ? try store.deadLetters(recipient: recipient, limit: limit)
            : try store.browse(recipient: recipient, limit: limit)
        return entries.compactMap(queuedEnvelope)
    }

    /// Moves dead-lettered messages of `recipient` back into its queue (attempts reset); `messageIDs` nil: all.
    public func replayDeadLetters(queue recipient: String, messageIDs: [MessageID]?) async throws -> QueueOperationResult {
        let dead = try store.deadLetters(recipient: recipient, limit: Self.maxOperationEntries)
        let selected = try select(dead, messageIDs, in: recipient)
        for (storeID, _) in selected {
            try await store.replayDeadLetter(recipient: recipient, messageID: storeID)
        }
        return QueueOperationResult(queue: recipient, messageIds: selected.map(\.1.hex), skippedInFlight: 0)
    }

    /// Deletes messages from `recipient`'s queue and dead-letter queue (`messageIDs` nil: all of them). In-flight
    /// messages are skipped. Purged entries get no receipt; the routing slip ends where it was.
    public func purge(queue recipient: String, messageIDs: [MessageID]?) async throws -> QueueOperationResult {
        let pending =
            try store.browse(recipient: recipient, limit: Self.maxOperationEntries)
            + store.deadLetters(recipient: recipient, limit: Self.maxOperationEntries)
        let inFlight = pending.filter(\.inFlight).count
        let selected = try select(pending.filter { !$0.inFlight }, messageIDs, in: recipient)
        for (storeID, _) in selected {
            try await store.purge(recipient: recipient, messageID: storeID)
        }
        // Named ids that are in flight were refused by `select`; only "purge all" skips in-flight entries.
        return QueueOperationResult(
            queue: recipient, messageIds: selected.map(\.1.hex),
            skippedInFlight: messageIDs == nil ? inFlight : 0)
    }

    /// The routing slip of any message, for the operator (no sender/recipient check); nil if unknown.
    /// Throws STORAGE_UNAVAILABLE if its records cannot be read back from the receipt log.
    public func trace(_ messageID: MessageID) throws -> MessageTrace? {
        guard let slip = try receiptLog.slip(messageID) else { return nil }
        return MessageTrace(
            messageId: messageID.hex, sender: slip.sender.rawValue, clientMessageId: slip.clientMessageID,
            recipients: slip.recipients.map(\.rawValue),
            receipts: slip.receipts.map { signed in
                let receipt = signed.receipt
                return MessageTrace.Entry(
                    kind: "\(receipt.kind)", recipient: receipt.recipient?.rawValue,
                    timestamp: Date(timeIntervalSince1970: Double(receipt.timestampMillis) / 1000),
                    reason: receipt.reason?.name)
            })
    }

    private func decodedID(_ queued: QueuedMessage) -> MessageID? {
        (try? StoredMessage(decoding: queued.envelope, limits: configuration.limits))?.stored.messageID
    }

    /// The (store id, message id) pairs of `entries` named by `messageIDs` (all if nil); an id not among them throws.
    private func select(_ entries: [QueuedMessage], _ messageIDs: [MessageID]?, in recipient: String) throws -> [(UInt64, MessageID)] {
        let all = entries.compactMap { q in decodedID(q).map { (q.messageID, $0) } }
        guard let messageIDs else { return all }
        return try messageIDs.map { id in
            guard let found = all.first(where: { $0.1 == id }) else {
                throw ProtocolError(.unknownMessage, "message \(id.hex) is not in the queue of \(recipient) (or is in flight)")
            }
            return found
        }
    }

    private func queuedEnvelope(_ queued: QueuedMessage) -> QueuedEnvelope? {
        guard let message = try? StoredMessage(decoding: queued.envelope, limits: configuration.limits) else { return nil }
        let envelope = message.stored.envelope
        return QueuedEnvelope(
            messageId: message.stored.messageID.hex, sender: envelope.sender.rawValue,
            recipients: envelope.recipients.map(\.rawValue), clientMessageId: envelope.clientMessageID,
            subject: envelope.subject, contentType: envelope.contentType, payloadLength: envelope.payloadLength,
            acceptedAt: Date(timeIntervalSince1970: Double(message.stored.acceptedAtMillis) / 1000),
            attempts: queued.attempts,
            state: queued.deadLettered ? "dead_lettered" : queued.inFlight ? "in_flight" : "queued")
    }
}
