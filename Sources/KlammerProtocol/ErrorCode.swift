/// A stable numeric error code of the Klammer protocol (SPEC.md §6).
///
/// Codes are grouped by thousands: 1xxx protocol, 2xxx identity/authorization, 3xxx message,
/// 4xxx resource, 5xxx internal. Unknown codes received from a newer peer are preserved
/// (`name` is then `UNKNOWN_<n>`) and classified by their range.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The numeric code carried on the wire (u16).
    public let rawValue: UInt16

    /// Creates a code from its wire value. Any value is accepted (forward compatibility).
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The stable symbolic name, e.g. `MALFORMED_FRAME`.
    public var name: String { Self.table[rawValue]?.name ?? "UNKNOWN_\(rawValue)" }

    /// Whether the same request may succeed if retried later unchanged.
    /// Unknown codes in the 4xxx and 5xxx ranges are considered retryable.
    public var isRetryable: Bool {
        if let entry = Self.table[rawValue] { return entry.retryable }
        return rawValue >= 4000 && rawValue < 6000
    }

    /// Whether the code is defined by this version of the specification.
    public var isKnown: Bool { Self.table[rawValue] != nil }

    /// `NAME (code)`.
    public var description: String { "\(name) (\(rawValue))" }

    // MARK: 1xxx protocol
    /// A frame or canonical structure is structurally invalid (e.g. a field is truncated).
    public static let malformedFrame = ErrorCode(rawValue: 1000)
    /// No common protocol version, or an unknown canonical-structure version.
    public static let unsupportedVersion = ErrorCode(rawValue: 1001)
    /// The frame length exceeds the receiver's `maxFrameSize`.
    public static let frameTooLarge = ErrorCode(rawValue: 1002)
    /// The peer sent more data than its window or credits allowed, or overflowed a window.
    public static let flowControlViolation = ErrorCode(rawValue: 1003)
    /// A known frame arrived in a state where it is not allowed.
    public static let unexpectedFrame = ErrorCode(rawValue: 1004)
    /// The frame type byte is unknown or reserved.
    public static let unknownFrameType = ErrorCode(rawValue: 1005)
    /// A frame or canonical structure has bytes after its last field.
    public static let trailingBytes = ErrorCode(rawValue: 1006)
    /// A text field is not valid UTF-8 (or not the required ASCII subset).
    public static let invalidUTF8 = ErrorCode(rawValue: 1007)
    /// A length or count exceeds a configured limit.
    public static let limitExceeded = ErrorCode(rawValue: 1008)
    /// A field has an out-of-range or syntactically invalid value.
    public static let invalidValue = ErrorCode(rawValue: 1009)
    /// No frame was received within the heartbeat tolerance.
    public static let heartbeatTimeout = ErrorCode(rawValue: 1010)
    /// A frame refers to a request id that is not in flight.
    public static let unknownRequest = ErrorCode(rawValue: 1011)
    /// A request id is reused while still in flight.
    public static let duplicateRequestID = ErrorCode(rawValue: 1012)
    /// HELLO was not received in time.
    public static let handshakeTimeout = ErrorCode(rawValue: 1013)

    // MARK: 2xxx identity / authorization
    /// The TLS client certificate maps to no registered participant.
    public static let unknownParticipant = ErrorCode(rawValue: 2001)
    /// The participant is temporarily suspended.
    public static let participantSuspended = ErrorCode(rawValue: 2002)
    /// The participant is permanently revoked.
    public static let participantRevoked = ErrorCode(rawValue: 2003)
    /// The certificate is valid but not registered for the participant.
    public static let certificateNotRegistered = ErrorCode(rawValue: 2004)
    /// The envelope's sender is not the participant authenticated on the connection.
    public static let impersonation = ErrorCode(rawValue: 2005)
    /// The routing policy forbids this sender/recipient pair or operation.
    public static let notPermitted = ErrorCode(rawValue: 2006)
    /// A recipient is not a registered participant.
    public static let unknownRecipient = ErrorCode(rawValue: 2007)
    /// A registered signing certificate is revoked by the broker's CRL (or no longer chains to its CA bundle).
    public static let certificateRevoked = ErrorCode(rawValue: 2008)
    /// A registered signing certificate is outside its validity period (expired or not yet valid).
    public static let certificateExpired = ErrorCode(rawValue: 2009)

    // MARK: 3xxx message
    /// The sender's (or recipient's) signature does not verify.
    public static let signatureInvalid = ErrorCode(rawValue: 3001)
    /// A required signature is absent.
    public static let signatureMissing = ErrorCode(rawValue: 3002)
    /// The payload's SHA-256 differs from the envelope's digest.
    public static let digestMismatch = ErrorCode(rawValue: 3003)
    /// The payload exceeds `maxMessageSize`.
    public static let messageTooLarge = ErrorCode(rawValue: 3004)
    /// The envelope names more recipients than `maxRecipients`.
    public static let tooManyRecipients = ErrorCode(rawValue: 3005)
    /// Reserved, never sent (SPEC.md §6): a duplicate submission is answered with ACCEPTED and the original receipt.
    public static let duplicate = ErrorCode(rawValue: 3006)
    /// The message's time to live elapsed.
    public static let expired = ErrorCode(rawValue: 3007)
    /// The envelope is semantically invalid.
    public static let invalidEnvelope = ErrorCode(rawValue: 3008)
    /// The message id is unknown or not visible to the requester.
    public static let unknownMessage = ErrorCode(rawValue: 3009)
    /// A chunk's offset is not the next expected offset.
    public static let chunkOffsetMismatch = ErrorCode(rawValue: 3010)
    /// The number of payload bytes received differs from the declared payload length.
    public static let lengthMismatch = ErrorCode(rawValue: 3011)
    /// The signature in SEND_END has a different form than announced in SEND_BEGIN.
    public static let signatureFormMismatch = ErrorCode(rawValue: 3012)
    /// Delivery was retried too often; the message was dead-lettered.
    public static let deliveryAttemptsExhausted = ErrorCode(rawValue: 3013)
    /// The CMS signature violates the signature profile of SPEC.md §3.5 (algorithm, attributes, embedded certificates).
    public static let signatureProfileViolation = ErrorCode(rawValue: 3014)
    /// The envelope's `created at` is outside the broker's clock-skew bounds or its TTL above the broker's maximum.
    public static let timeOutOfRange = ErrorCode(rawValue: 3015)

    // MARK: 4xxx resource
    /// The participant's storage or message quota is exhausted.
    public static let quotaExceeded = ErrorCode(rawValue: 4001)
    /// The store is temporarily unavailable.
    public static let storageUnavailable = ErrorCode(rawValue: 4002)
    /// The store has no free space.
    public static let storageFull = ErrorCode(rawValue: 4003)
    /// Too many requests; retry later.
    public static let rateLimited = ErrorCode(rawValue: 4004)
    /// The broker is shutting down (used in GOAWAY).
    public static let shuttingDown = ErrorCode(rawValue: 4005)

    // MARK: 5xxx internal
    /// An unexpected internal error of the broker.
    public static let internalError = ErrorCode(rawValue: 5000)

    /// Every code defined by this version of SPEC.md, in ascending order.
    public static var allKnown: [ErrorCode] { table.keys.sorted().map(ErrorCode.init(rawValue:)) }

    private static let table: [UInt16: (name: String, retryable: Bool)] = [
        1000: ("MALFORMED_FRAME", false),
        1001: ("UNSUPPORTED_VERSION", false),
        1002: ("FRAME_TOO_LARGE", false),
        1003: ("FLOW_CONTROL_VIOLATION", false),
        1004: ("UNEXPECTED_FRAME", false),
        1005: ("UNKNOWN_FRAME_TYPE", false),
        1006: ("TRAILING_BYTES", false),
        1007: ("INVALID_UTF8", false),
        1008: ("LIMIT_EXCEEDED", false),
        1009: ("INVALID_VALUE", false),
        1010: ("HEARTBEAT_TIMEOUT", true),
        1011: ("UNKNOWN_REQUEST", false),
        1012: ("DUPLICATE_REQUEST_ID", false),
        1013: ("HANDSHAKE_TIMEOUT", true),
        2001: ("UNKNOWN_PARTICIPANT", false),
        2002: ("PARTICIPANT_SUSPENDED", false),
        2003: ("PARTICIPANT_REVOKED", false),
        2004: ("CERTIFICATE_NOT_REGISTERED", false),
        2005: ("IMPERSONATION", false),
        2006: ("NOT_PERMITTED", false),
        2007: ("UNKNOWN_RECIPIENT", false),
        2008: ("CERTIFICATE_REVOKED", false),
        2009: ("CERTIFICATE_EXPIRED", false),
        3001: ("SIGNATURE_INVALID", false),
        3002: ("SIGNATURE_MISSING", false),
        3003: ("DIGEST_MISMATCH", false),
        3004: ("MESSAGE_TOO_LARGE", false),
        3005: ("TOO_MANY_RECIPIENTS", false),
        3006: ("DUPLICATE", false),
        3007: ("EXPIRED", false),
        3008: ("INVALID_ENVELOPE", false),
        3009: ("UNKNOWN_MESSAGE", false),
        3010: ("CHUNK_OFFSET_MISMATCH", false),
        3011: ("LENGTH_MISMATCH", false),
        3012: ("SIGNATURE_FORM_MISMATCH", false),
        3013: ("DELIVERY_ATTEMPTS_EXHAUSTED", false),
        3014: ("SIGNATURE_PROFILE_VIOLATION", false),
        3015: ("TIME_OUT_OF_RANGE", false),
        4001: ("QUOTA_EXCEEDED", true),
        4002: ("STORAGE_UNAVAILABLE", true),
        4003: ("STORAGE_FULL", true),
        4004: ("RATE_LIMITED", true),
        4005: ("SHUTTING_DOWN", true),
        5000: ("INTERNAL_ERROR", true)
    ]
}
