/// An error from the broker core: a stable code and a message that says what is wrong and what to do.
public struct BrokerError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable identifiers for broker-core failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        public static let fileExists = Code(name: "file-exists")
        public static let io = Code(name: "io")
        public static let invalidParticipantID = Code(name: "invalid-participant-id")
        public static let participantExists = Code(name: "participant-exists")
        public static let unknownParticipant = Code(name: "unknown-participant")
        public static let certificateInUse = Code(name: "certificate-in-use")
        public static let unknownCertificate = Code(name: "unknown-certificate")
        public static let invalidTransition = Code(name: "invalid-transition")
        public static let invalidPolicy = Code(name: "invalid-policy")
        public static let corruptRegistry = Code(name: "corrupt-registry")
        public static let limitExceeded = Code(name: "limit-exceeded")
        public static let invalidConfiguration = Code(name: "invalid-configuration")
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}
