public import KlammerProtocol

/// A refusal the broker reports for its audit log (SPEC.md §10.4): a connection refused because of its participant
/// (unknown, suspended, revoked, certificate not registered), or a submission or ACK refused by the broker's checks
/// (impersonation, signature, recipients, digest …). The session produces these; klammerd writes them to the audit
/// log through ``SessionHub/onRefusal(_:)``.
public struct RefusalEvent: Sendable, Equatable {
    /// What was refused; the raw value is the audit `action`.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The connection (at HELLO or its first input).
        case connection = "connection.refused"
        /// A submission (SEND_BEGIN … SEND_END).
        case submission = "submission.refused"
        /// An acknowledgement (ACK).
        case acknowledgement = "ack.refused"
        /// A live connection the broker closed because its participant was suspended, revoked or removed, or its
        /// certificate was removed or revoked by a CRL (what it had in progress is cut).
        case cut = "connection.cut"
        /// A connection that used up its refusal budget (``SessionConfiguration/maxRefusalsPerSecond``): one entry
        /// with the count instead of one per refusal, and the connection is closed (SPEC.md §10.4).
        case refusalsExceeded = "connection.refusals_exceeded"
    }

    /// What was refused.
    public var kind: Kind
    /// The registry id the connection belongs to, if it belongs to one.
    public var participant: String?
    /// Lowercase hex SHA-256 of the connection's client certificate (SPEC.md §3.3).
    public var fingerprint: String
    /// The error code sent to the client.
    public var code: ErrorCode
    /// The error message sent to the client.
    public var reason: String
    /// The request id (0 for a connection).
    public var requestID: UInt32
    /// Further facts (envelope digest, claimed sender, client message id, recipient), at most ``maxDetails``.
    public var details: [String: String]

    /// Bound of ``details`` (the audit log allows 32; the recorder adds its own).
    public static let maxDetails = 8

    /// Creates an event; details beyond ``maxDetails`` are dropped (smallest keys kept).
    public init(
        kind: Kind, participant: String?, fingerprint: String, code: ErrorCode, reason: String,
        requestID: UInt32 = 0, details: [String: String] = [:]
    ) {
        self.kind = kind
        self.participant = participant
        self.fingerprint = fingerprint
        self.code = code
        self.reason = reason
        self.requestID = requestID
        self.details =
            details.count <= Self.maxDetails
            ? details
            : Dictionary(uniqueKeysWithValues: details.sorted { $0.key < $1.key }.prefix(Self.maxDetails).map { ($0.key, $0.value) })
    }
}
