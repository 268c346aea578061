public import KlammerProtocol

/// Every failure of `KlammerClient` and the `klammer` tool: a stable kind, the protocol error code when the broker (or
/// the protocol rules) produced one, and a message that says what is wrong and what to do.
public struct KlammerClientError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Where the failure comes from.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// Stable name, e.g. `brokerRefused`.
        public let name: String
        init(_ name: String) { self.name = name }
        /// The name.
        public var description: String { name }

        /// The broker answered a request (or the connection) with ERROR; see ``KlammerClientError/code``.
        public static let brokerRefused = Kind("brokerRefused")
        /// The broker broke the protocol (malformed or unexpected frame); the connection was closed.
        public static let protocolViolation = Kind("protocolViolation")
        /// TCP connect, TLS handshake or the connection itself failed.
        public static let connectionFailed = Kind("connectionFailed")
        /// The TLS handshake was refused with an alert before WELCOME (certificate not trusted by the broker,
        /// expired or revoked by a CRL, no common ALPN, …), or our side refused the broker's certificate. Retrying
        /// does not help. A connection that merely drops before WELCOME is ``connectionFailed`` (retryable: the
        /// broker may be restarting).
        public static let handshakeRefused = Kind("handshakeRefused")
        /// The broker answered HELLO with ERROR(0, `UNKNOWN_PARTICIPANT` / `PARTICIPANT_SUSPENDED` /
        /// `PARTICIPANT_REVOKED` / `CERTIFICATE_NOT_REGISTERED`), or cut a live connection with one of them after a
        /// registry change: the certificate is trusted but the participant may not connect (SPEC.md §4.5, §9.8). ``KlammerClientError/code`` says which; retrying does not help, the broker
        /// operator must act.
        public static let participantRefused = Kind("participantRefused")
        /// The connection is closed or draining (GOAWAY); open a new connection and retry.
        public static let connectionClosed = Kind("connectionClosed")
        /// The profile (certificate, key, CA, broker address) is missing or unusable.
        public static let invalidProfile = Kind("invalidProfile")
        /// A caller-supplied value (recipient, subject, file, message id) is invalid.
        public static let invalidArgument = Kind("invalidArgument")
        /// A signature, certificate chain or payload digest did not verify.
        public static let verificationFailed = Kind("verificationFailed")
        /// Reading or writing a local file failed.
        public static let fileError = Kind("fileError")
        /// No answer within the time limit.
        public static let timeout = Kind("timeout")
    }

    /// The kind of failure.
    public let kind: Kind
    /// The protocol error code (SPEC.md §6), if the failure has one.
    public let code: ErrorCode?
    /// What is wrong and what to do.
    public let message: String
    /// For a refused submission: the broker's signed `rejected` receipt (kind 6, reason = ``code``), if the broker
    /// issued one (SPEC.md §7.1, §5.4.1). Verify it with the broker certificate like any receipt.
    public internal(set) var rejectedReceipt: SignedReceipt?

    /// Creates an error.
    public init(_ kind: Kind, code: ErrorCode? = nil, _ message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    /// The protocol code's name (`UNKNOWN_RECIPIENT`) or else the kind's name.
    public var name: String { code?.name ?? kind.name }

    /// Whether retrying the same request unchanged may succeed (SPEC.md §6; connection losses are retryable).
    public var isRetryable: Bool {
        if let code { return code.isRetryable || kind == .connectionClosed }
        return kind == .connectionFailed || kind == .connectionClosed || kind == .timeout
    }

    /// `NAME (code): message`, or `kind: message` without a protocol code.
    public var description: String {
        if let code { return "\(code.name) (\(code.rawValue)): \(message)" }
        return "\(kind.name): \(message)"
    }

    /// An ERROR frame from the broker, with advice for the codes a user can act on.
    static func broker(_ frame: Frame.ErrorFrame) -> KlammerClientError {
        KlammerClientError(.brokerRefused, code: frame.code, "the broker refused: \(frame.message)\(advice(for: frame.code))")
    }

    /// ERROR(0): a participant refusal (2001–2004: at HELLO, or cutting a live connection after the operator
    /// suspended, revoked or removed the participant) is ``Kind/participantRefused``, anything else
    /// ``Kind/brokerRefused``.
    static func connectionError(_ frame: Frame.ErrorFrame) -> KlammerClientError {
        guard participantRefusalCodes.contains(frame.code) else { return broker(frame) }
        return KlammerClientError(
            .participantRefused, code: frame.code,
            "the broker refused this participant: \(frame.message)\(advice(for: frame.code))")
    }

    /// The codes with which the broker refuses a participant at HELLO (SPEC.md §4.5, §6).
    static let participantRefusalCodes: Set<ErrorCode> = [
        .unknownParticipant, .participantSuspended, .participantRevoked,
        .certificateNotRegistered
    ]

    /// A protocol rule the broker broke (we close the connection).
    static func violation(_ error: ProtocolError) -> KlammerClientError {
        KlammerClientError(
            .protocolViolation, code: error.code,
            "the broker sent something the protocol does not allow: \(error.message); the connection was closed")
    }

    static func advice(for code: ErrorCode) -> String {
        switch code {
        case .unknownParticipant, .certificateNotRegistered:
            return " (is your certificate registered with this broker? ask the operator)"
        case .participantSuspended, .participantRevoked:
            return " (your participant is not active; contact the broker operator)"
        case .unknownRecipient:
            return " (check the recipient id, e.g. ags:13004000)"
        case .notPermitted:
            return " (the routing policy does not allow this; ask the operator)"
        case .messageTooLarge, .tooManyRecipients:
            return " (split the message or the recipient list)"
        case .invalidEnvelope:
            return " (if you reused a client message id, pick a new one or resend exactly the same message)"
        case .shuttingDown, .storageUnavailable, .storageFull, .rateLimited, .quotaExceeded, .internalError:
            return " (temporary; retry later with the same client message id)"
        case .unknownMessage:
            return " (the message id is unknown or not yours to see)"
        default:
            return ""
        }
    }
}
