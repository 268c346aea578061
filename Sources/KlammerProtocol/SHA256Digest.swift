/// A 32-byte SHA-256 digest carried as opaque bytes (this module computes no hashes).
public struct SHA256Digest: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 32 raw bytes.
    public let bytes: [UInt8]

    /// Wraps exactly 32 bytes; throws INVALID_VALUE otherwise.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else {
            throw ProtocolError(.invalidValue, "SHA-256 digest must be 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    init(uncheckedBytes: [UInt8]) { self.bytes = uncheckedBytes }

    /// Parses 64 hex digits; nil otherwise.
    public init?(hex: String) {
        guard let b = Hex.decode(hex), b.count == 32, hex.utf8.count == 64 else { return nil }
        self.bytes = b
    }

    /// 64 lower-case hex digits.
    public var hex: String { Hex.encode(bytes) }
    /// Textual form.
    public var description: String { hex }

    /// Decodes the JSON / Codable form.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        guard let d = SHA256Digest(hex: try c.decode(String.self)) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "digest must be 64 hex digits")
        }
        self = d
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(hex)
    }
}
