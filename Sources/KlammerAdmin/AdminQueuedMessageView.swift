public import Foundation
import KlammerBroker

/// A queued (or dead-lettered) message in the queue and dead-letter listings: the envelope's routing fields and
/// the queue state, never the payload (SPEC.md §11.3).
public struct AdminQueuedMessageView: Sendable, Equatable, Codable {
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

    init(_ envelope: QueuedEnvelope) {
        messageId = envelope.messageId
        sender = envelope.sender
        recipients = envelope.recipients
        clientMessageId = envelope.clientMessageId
        subject = envelope.subject
        contentType = envelope.contentType
        payloadLength = envelope.payloadLength
        acceptedAt = envelope.acceptedAt
        attempts = envelope.attempts
        state = envelope.state
    }
}
