/// An error from the server layer: a stable code and a message that says what is wrong and what to do.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    /// Stable identifiers for server-layer failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name (kebab-case).
        public let name: String
        /// The name.
        public var description: String { name }

        /// A file to be created already exists.
        public static let fileExists = Code(name: "file-exists")
        /// Opening the message store or the broker core (or another file of the daemon) failed.
        public static let io = Code(name: "io")
        /// The dev-mode PKI directory holds a file that is not what it should be (no certificate, no CRL, …).
        public static let invalidPKI = Code(name: "invalid-pki")
        /// A listening socket (broker port, metrics port) cannot be bound.
        public static let bindFailed = Code(name: "bind-failed")
        /// The server was configured with values it cannot run with.
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
