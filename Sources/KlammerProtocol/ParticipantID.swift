/// A participant (public authority) identifier of the form `scheme:value`, e.g. `ags:13004000`.
///
/// Syntax (SPEC.md §5.1): scheme `[a-z][a-z0-9-]{0,15}`, one `:`, value `[A-Za-z0-9._-]{1,64}`.
/// Comparison is byte-exact (case-sensitive value). Encoded on the wire as u8 length + ASCII.
public struct ParticipantID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// Longest encoded participant id in bytes (16 + 1 + 64).
    public static let maxLength: UInt8 = 81

    /// The full `scheme:value` text.
    public let rawValue: String

    /// Parses and validates `scheme:value`. Throws INVALID_VALUE on bad syntax.
    public init(_ string: String) throws {
        try self.init(utf8: Array(string.utf8))
    }

    /// Builds `scheme:value` from its parts, validating both.
    public init(scheme: String, value: String) throws {
        try self.init(scheme + ":" + value)
    }

    init(utf8 bytes: [UInt8]) throws {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else {
            throw ProtocolError(.invalidValue, "participant id lacks ':'")
        }
        let scheme = bytes[..<colon]
        let value = bytes[(colon + 1)...]
        guard (1...16).contains(scheme.count), let first = scheme.first, Self.isLower(first),
            scheme.allSatisfy({ Self.isLower($0) || Self.isDigit($0) || $0 == UInt8(ascii: "-") })
        else {
            throw ProtocolError(.invalidValue, "participant id scheme must match [a-z][a-z0-9-]{0,15}")
        }
        guard (1...64).contains(value.count),
            value.allSatisfy({
                Self.isLower($0) || Self.isUpper($0) || Self.isDigit($0)
                    || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
            })
        else {
            throw ProtocolError(.invalidValue, "participant id value must match [A-Za-z0-9._-]{1,64}")
        }
        self.rawValue = String(decoding: bytes, as: UTF8.self)
    }

    /// The part before the colon, e.g. `ags`.
    public var scheme: String { String(rawValue.prefix { $0 != ":" }) }
    /// The part after the colon, e.g. `13004000`.
    public var value: String { String(rawValue.drop { $0 != ":" }.dropFirst()) }

    /// Textual form.
    public var description: String { rawValue }

    /// Byte-wise ordering.
    public static func < (lhs: ParticipantID, rhs: ParticipantID) -> Bool {
        lhs.rawValue.utf8.lexicographicallyPrecedes(rhs.rawValue.utf8)
    }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        try self.init(try c.decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    private static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    private static func isUpper(_ c: UInt8) -> Bool { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }
    private static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
