/// A failure of the audit log: a stable code and a message that says what is wrong and what to do.
public struct AuditError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable identifiers for audit-log failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name (kebab-case; the admin API reports it as `audit-<name>`).
        public let name: String
        /// The name.
        public var description: String { name }

        /// Reading, writing or syncing the file failed.
        public static let io = Code(name: "io")
        /// An earlier write or fsync failed; the log refuses further entries until the daemon is restarted.
        public static let poisoned = Code(name: "poisoned")
        /// The file's last complete entry cannot be parsed, so the chain cannot be continued.
        public static let corrupt = Code(name: "corrupt")
        /// An entry or one of its fields is above its limit.
        public static let limitExceeded = Code(name: "limit-exceeded")
        /// Signing a checkpoint failed.
        public static let signing = Code(name: "signing")
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
