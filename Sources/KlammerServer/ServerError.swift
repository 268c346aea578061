/// An error from the server layer: a stable code and a message that says what is wrong and what to do.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    /// Stable identifiers for server-layer failures.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String
        public var description: String { name }

        public static let fileExists = Code(name: "file-exists")
        public static let io = Code(name: "io")
        public static let invalidPKI = Code(name: "invalid-pki")
        public static let bindFailed = Code(name: "bind-failed")
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
