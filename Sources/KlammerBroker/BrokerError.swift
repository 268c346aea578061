/// An error from the broker core: a stable code and a message that says what is wrong and what to do.
public struct BrokerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable identifiers for broker-core failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name (kebab-case, as the admin API's JSON carries it).
        public let name: String
        /// The name.
        public var description: String { name }

        /// The file to be written already exists and overwriting was not asked for.
        public static let fileExists = Code(name: "file-exists")
        /// Reading, writing, syncing or renaming a file of the broker (registry, receipt log, keys) failed.
        public static let io = Code(name: "io")
        /// A participant id does not have the syntax of SPEC.md §5.1.
        public static let invalidParticipantID = Code(name: "invalid-participant-id")
        /// A participant with this id is already registered.
        public static let participantExists = Code(name: "participant-exists")
        /// No participant with this id is registered.
        public static let unknownParticipant = Code(name: "unknown-participant")
        /// The certificate is already registered to another participant (a certificate names exactly one).
        public static let certificateInUse = Code(name: "certificate-in-use")
        /// The participant has no certificate with this fingerprint.
        public static let unknownCertificate = Code(name: "unknown-certificate")
        /// The status change is not allowed from the current status (revocation is final).
        public static let invalidTransition = Code(name: "invalid-transition")
        /// A routing policy is malformed or above its limits.
        public static let invalidPolicy = Code(name: "invalid-policy")
        /// The registry file cannot be parsed or fails its integrity checks; the broker refuses to start on it.
        public static let corruptRegistry = Code(name: "corrupt-registry")
        /// A count or size is above its limit (participants, certificates per participant, name length, …).
        public static let limitExceeded = Code(name: "limit-exceeded")
        public static let invalidConfiguration = Code(name: "invalid-configuration")
    }

    /// What kind of failure this is.
    public let code: Code
    /// What is wrong and what to do about it.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
