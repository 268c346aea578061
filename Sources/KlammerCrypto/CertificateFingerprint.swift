import KlammerHex

/// The SHA-256 digest of a certificate's DER encoding: how Klammer pins and registers certificates.
///
/// Equal to `openssl x509 -noout -fingerprint -sha256` (which prints it uppercase with colons);
/// ``hex`` is lowercase without separators. Encodes to JSON/Codable as that hex string.
public struct CertificateFingerprint: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps 32 SHA-256 bytes.
    package init(bytes: [UInt8]) {
        precondition(bytes.count == 32, "a SHA-256 fingerprint has 32 bytes")
        self.bytes = bytes
    }

    /// Parses 64 hex digits, upper- or lowercase; colons and spaces are ignored so that OpenSSL's
    /// `AB:CD:…` output is accepted too. Returns `nil` for anything else.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex, ignoring: [":", " "]), bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// Lowercase hex, no separators (64 characters).
    public var hex: String { Hex.encode(bytes) }

    public var description: String { "SHA256:\(hex)" }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = CertificateFingerprint(hex: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected 64 hex digits of a SHA-256 certificate fingerprint")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
