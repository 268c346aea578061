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

/// A SHA-256 function: 32 bytes out for any bytes in. This module computes no hashes; callers pass KlammerCrypto's
/// `SHA256.hash`, so the protocol rules that need a digest (envelope digest, batch proof fold) stay free of the C layer.
public typealias SHA256Function = (_ bytes: [UInt8]) -> [UInt8]

extension SHA256Digest {
    /// Wraps what a SHA-256 function (or a finished SHA-256 hasher) returned. A function that returns other than
    /// 32 bytes is broken (not bad input), so this traps instead of throwing; use `init(bytes:)` for received bytes.
    public init(hashOutput: [UInt8]) {
        precondition(hashOutput.count == 32, "a SHA-256 function returned \(hashOutput.count) bytes instead of 32")
        self.init(uncheckedBytes: hashOutput)
    }
}
