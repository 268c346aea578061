public import Foundation
public import KlammerProtocol
public import KlammerStore

/// A leased message for a recipient: everything the recipient needs to verify it offline (stored envelope, the
/// sender's detached signature, the sender certificate's DER) plus access to the payload.
public struct BrokerDelivery: Sendable {
    /// The recipient it is leased to.
    public let recipient: ParticipantID
    /// Message id, acceptance time, canonical signed envelope, sender signature and sender certificate DER.
    public let message: StoredMessage
    /// Where the payload lives: inline bytes or a blob (read it with ``Broker/openPayload(_:)``).
    public let payload: MessagePayload
    /// Delivery attempt (1 for the first).
    public let attempt: Int
    /// When the message expires.
    public let expiresAt: Date?

    let storeID: UInt64
    let leaseToken: UInt64

    /// The message id.
    public var messageID: MessageID { message.stored.messageID }
}
