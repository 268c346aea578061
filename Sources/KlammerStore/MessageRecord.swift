public import Foundation

/// A message handed to `KlammerStore.append`. The payload is stored once; one queue entry is created per recipient.
public struct MessageRecord: Sendable, Equatable {
    /// Authenticated sender identity (1…`maxIDLength` UTF-8 bytes).
    public var sender: String
    /// The sender's own id for this message; (sender, clientMessageID) is the deduplication key.
    public var clientMessageID: String
    /// Recipients; each gets its own queue entry. Duplicates are removed, order is kept.
    public var recipients: [String]
    /// Opaque envelope bytes (headers, signatures) returned with every delivery.
    public var envelope: [UInt8]
    /// The document: inline bytes (small) or a finished blob (large).
    public var payload: MessagePayload
    /// Absolute expiry; nil means `StoreConfiguration.defaultTTL` from the append time.
    public var expiresAt: Date?
    /// Opaque bytes (e.g. the signed "accepted" receipt) returned by a duplicate append.
    public var outcome: [UInt8]

    /// Creates a message record.
    public init(
        sender: String, clientMessageID: String, recipients: [String], envelope: [UInt8],
        payload: MessagePayload, expiresAt: Date? = nil, outcome: [UInt8]
    ) {
        self.sender = sender
        self.clientMessageID = clientMessageID
        self.recipients = recipients
        self.envelope = envelope
        self.payload = payload
        self.expiresAt = expiresAt
        self.outcome = outcome
    }
}

/// Where a message's document bytes live.
public enum MessagePayload: Sendable, Equatable {
    /// Bytes stored in the log record (at most `StoreConfiguration.maxInlinePayload`).
    case inline([UInt8])
    /// A finished blob (see `KlammerStore.beginBlob()`).
    case blob(BlobReference)
}

/// A finished, checksummed blob file.
public struct BlobReference: Sendable, Equatable, Hashable {
    /// Blob id (file name `<id hex>.blob`).
    public var id: UInt64
    /// Size in bytes.
    public var size: UInt64
    /// CRC32C of the content.
    public var crc32c: UInt32

    /// Creates a reference.
    public init(id: UInt64, size: UInt64, crc32c: UInt32) {
        self.id = id
        self.size = size
        self.crc32c = crc32c
    }
}

/// How an append was made durable.
public enum Durability: Sendable, Equatable {
    /// Confirmed after fdatasync of the record (default).
    case always
    /// Confirmed after write(2) only; fdatasync follows within `maxDelay`. A crash can lose confirmed messages.
    case batched(maxDelay: Duration)
}

/// Result of `KlammerStore.append`.
public enum AppendResult: Sendable, Equatable {
    /// Stored under `messageID` with the durability that was actually in force.
    case stored(messageID: UInt64, durability: Durability)
    /// (sender, clientMessageID) was seen before: the original message id and outcome bytes, nothing stored.
    case duplicate(messageID: UInt64, outcome: [UInt8])
}

/// Identifies a consumer connection; its leases are released when it disconnects.
public struct ConsumerID: Sendable, Hashable, CustomStringConvertible {
    /// The raw id.
    public var rawValue: String
    /// Creates an id.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// A leased message. It stays in flight until acked, nacked, its lease times out or its consumer disconnects.
public struct Delivery: Sendable, Equatable {
    /// Store-assigned message id (log sequence number of the original append).
    public var messageID: UInt64
    /// Recipient queue the message was leased from.
    public var recipient: String
    /// Sender.
    public var sender: String
    /// Sender's client message id.
    public var clientMessageID: String
    /// Envelope bytes.
    public var envelope: [UInt8]
    /// Inline bytes or a blob reference (stream it with `KlammerStore.openBlob`).
    public var payload: MessagePayload
    /// Expiry time.
    public var expiresAt: Date?
    /// 1 for the first delivery, incremented on every redelivery.
    public var attempt: Int
    /// Token to pass to ack/nack; invalid once the lease ends.
    public var leaseToken: UInt64
}

/// A queued (not terminal) message as seen by `browse`, without consuming it.
public struct QueuedMessage: Sendable, Equatable {
    /// Message id.
    public var messageID: UInt64
    /// Sender.
    public var sender: String
    /// Client message id.
    public var clientMessageID: String
    /// Envelope bytes.
    public var envelope: [UInt8]
    /// Payload.
    public var payload: MessagePayload
    /// Deliveries so far.
    public var attempts: Int
    /// True if in the dead-letter queue.
    public var deadLettered: Bool
    /// True if currently leased.
    public var inFlight: Bool
}

/// Events for the broker (e.g. to send expiry or dead-letter receipts). Emitted after the state change is durable.
public enum StoreEvent: Sendable, Equatable {
    /// A message's entry for `recipient` expired undelivered.
    case expired(messageID: UInt64, recipient: String, sender: String, clientMessageID: String)
    /// A message's entry for `recipient` moved to the dead-letter queue after `attempts` deliveries.
    case deadLettered(messageID: UInt64, recipient: String, sender: String, clientMessageID: String, attempts: Int)
}
