/// An error from the store: a machine-readable `code` and a message that says what is wrong and what to do.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Error categories the broker can switch on. The raw value is the printed name, kebab-case like the other
    /// Klammer error codes.
    public enum Code: String, Sendable, Equatable {
        /// An fdatasync/fsync or write failed earlier; the store refuses writes until it is reopened.
        case writePathPoisoned = "write-path-poisoned"
        /// The disk is full (ENOSPC); the write path is poisoned.
        case diskFull = "disk-full"
        /// A size or count limit was exceeded.
        case tooLarge = "too-large"
        /// Invalid argument (empty id, unknown recipient, …).
        case invalidArgument = "invalid-argument"
        /// Data on disk failed verification.
        case corrupt
        /// The lease token is unknown or has expired (the message was redelivered or acked).
        case leaseNotHeld = "lease-not-held"
        /// The message or blob does not exist.
        case notFound = "not-found"
        /// The store is closed.
        case closed
        /// An operating-system call failed.
        case io
    }

    /// The category.
    public var code: Code
    /// Human-readable explanation including what to do.
    public var message: String
    /// File involved, if any.
    public var file: String?
    /// Byte offset in `file`, if any.
    public var offset: UInt64?

    /// Creates an error.
    public init(_ code: Code, _ message: String, file: String? = nil, offset: UInt64? = nil) {
        self.code = code
        self.message = message
        self.file = file
        self.offset = offset
    }

    public var description: String {
        var s = "store error [\(code.rawValue)]: \(message)"
        if let file { s += " (file \(file)" + (offset.map { " offset \($0)" } ?? "") + ")" }
        return s
    }

    static func tooLarge(_ what: String, _ size: Int, _ limit: Int) -> StoreError {
        StoreError(.tooLarge, "\(what) is \(size), the limit is \(limit); split the data or raise the limit in StoreConfiguration")
    }

    static func invalid(_ what: String) -> StoreError {
        StoreError(.invalidArgument, what)
    }

    static let closed = StoreError(.closed, "the store is closed; open it again")
}
