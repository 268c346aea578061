/// A configuration that cannot be used: names the key (and where its value came from), says what is wrong and
/// what to do. `klammerd --config` prints it and exits before opening anything.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Stable identifiers for the classes of configuration errors.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        /// The configuration file does not exist or cannot be read.
        public static let fileUnreadable = Code(name: "file-unreadable")
        /// The file is not valid YAML, or its top level is not a mapping.
        public static let syntax = Code(name: "syntax")
        /// A key that Klammer does not know (usually a typo).
        public static let unknownKey = Code(name: "unknown-key")
        /// A value of the wrong shape or type (a list where a number belongs, text where a number belongs …).
        public static let wrongType = Code(name: "wrong-type")
        /// A number outside its allowed range.
        public static let outOfRange = Code(name: "out-of-range")
        /// A required key is absent.
        public static let missing = Code(name: "missing")
        /// A value of the right type that is still not acceptable (unknown enum word, bad id, inconsistent keys).
        public static let invalidValue = Code(name: "invalid-value")
    }

    public let code: Code
    /// The dotted key, e.g. `listen.port`; empty for errors about the file as a whole.
    public let key: String
    /// Where the value came from: the file path or the environment variable, e.g. `KLAMMER_LISTEN_PORT`.
    public let source: String
    public let reason: String

    public init(_ code: Code, key: String, source: String, reason: String) {
        self.code = code
        self.key = key
        self.source = source
        self.reason = reason
    }

    public var description: String {
        if key.isEmpty { return "invalid configuration (\(code)) in \(source): \(reason)" }
        return "invalid configuration (\(code)): \(key) (from \(source)): \(reason)"
    }
}
