/// The single error type thrown by every decoding and validation function of `KlammerProtocol`.
///
/// A receiver that gets a `ProtocolError` while decoding a frame answers with an ERROR frame
/// carrying `code` and `message` (request id 0) and closes the connection.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The stable error code (SPEC.md §6).
    public var code: ErrorCode
    /// A human-readable explanation naming the frame and field; never contains payload data.
    public var message: String

    /// Creates an error.
    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `NAME (code): message`.
    public var description: String { "\(code): \(message)" }
}
