/// The 16-byte message identifier assigned by the broker on acceptance (also used for
/// conversation ids). Rendered as 32 lower-case hex digits.
public struct MessageID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The 16 raw bytes.
    public let bytes: [UInt8]

    /// Wraps exactly 16 bytes; throws INVALID_VALUE otherwise.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 16 else {
            throw ProtocolError(.invalidValue, "message id must be 16 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// Parses 32 hex digits; nil otherwise.
    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 16, hex.utf8.count == 32 else { return nil }
        self.bytes = b
    }

    /// A fresh random id (the broker's id assignment).
    public static func random() -> MessageID {
        var g = SystemRandomNumberGenerator()
        return random(using: &g)
    }

    /// A random id from the given generator (deterministic tests).
    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> MessageID {
        MessageID(uncheckedBytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    /// 32 lower-case hex digits.
    public var hex: String { Hex.encode(bytes) }
    /// Textual form.
    public var description: String { hex }

    /// Byte-wise ordering.
    public static func < (lhs: MessageID, rhs: MessageID) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let s = try c.decode(String.self)
        guard let id = MessageID(hex: s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "message id must be 32 hex digits")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
