import KlammerHex

/// Klammer's canonical form of certificate serial numbers (hex digits through the package's one coder, KlammerHex).
enum HexCoding {
    /// Normalises a serial number given as hex (any case, optional colons, optional leading zeros,
    /// odd length allowed) to Klammer's canonical form: lowercase, minimal even-length big-endian bytes,
    /// `"00"` for zero. Returns nil if it is not hex.
    static func canonicalSerial(_ text: String) -> String? {
        var digits = text.unicodeScalars.filter { $0 != ":" && $0 != " " }.map(Character.init)
        guard !digits.isEmpty else { return nil }
        if digits.count % 2 == 1 { digits.insert("0", at: 0) }
        guard var bytes = Hex.decode(String(digits)) else { return nil }
        while bytes.count > 1 && bytes[0] == 0 { bytes.removeFirst() }
        return Hex.encode(bytes)
    }
}
