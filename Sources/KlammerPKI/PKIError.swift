/// A failure of a CA directory operation: says what is wrong and what to do (klammerctl prints it as
/// `Error: <message>`).
public struct PKIError: Error, CustomStringConvertible, Sendable, Equatable {
    public let message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }
}
