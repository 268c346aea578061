public import Foundation
import KlammerBroker

/// `GET /v1/messages/{id}`: every receipt of one message in the order they were issued (the routing slip,
/// SPEC.md §7.4, §11.3).
public struct AdminMessageTraceView: Sendable, Equatable, Codable {
    /// One receipt.
    public struct Receipt: Sendable, Equatable, Codable {
        /// `accepted`, `delivered`, `acknowledged`, `expired`, `dead_lettered`, …
        public var kind: String
        /// The recipient the receipt is about (nil for `accepted`).
        public var recipient: String?
        public var timestamp: Date
        /// The error code name of a negative receipt.
        public var reason: String?
    }

    public var messageId: String
    public var sender: String
    public var clientMessageId: String
    public var recipients: [String]
    public var receipts: [Receipt]

    init(_ trace: MessageTrace) {
        messageId = trace.messageId
        sender = trace.sender
        clientMessageId = trace.clientMessageId
        recipients = trace.recipients
        receipts = trace.receipts.map { .init(kind: $0.kind, recipient: $0.recipient, timestamp: $0.timestamp, reason: $0.reason) }
    }
}
