/// Hex decoding shared by fingerprints and serial numbers.
enum HexCoding {
    /// Decodes hex digits (either case), skipping the given separator characters.
    /// Returns nil for other characters or an odd number of digits.
    static func decode(_ text: String, ignoring separators: Set<Unicode.Scalar> = []) -> [UInt8]? {
        var nibbles: [UInt8] = []
        nibbles.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if separators.contains(scalar) { continue }
            switch scalar {
            case "0"..."9": nibbles.append(UInt8(scalar.value - 48))
            case "a"..."f": nibbles.append(UInt8(scalar.value - 87))
            case "A"..."F": nibbles.append(UInt8(scalar.value - 55))
            default: return nil
            }
        }
        guard nibbles.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(nibbles.count / 2)
        for i in stride(from: 0, to: nibbles.count, by: 2) {
            bytes.append(nibbles[i] << 4 | nibbles[i + 1])
        }
        return bytes
    }

    /// Normalises a serial number given as hex (any case, optional colons, optional leading zeros,
    /// odd length allowed) to Klammer's canonical form: lowercase, minimal even-length big-endian bytes,
    /// `"00"` for zero. Returns nil if it is not hex.
    static func canonicalSerial(_ text: String) -> String? {
        var digits = text.unicodeScalars.filter { $0 != ":" && $0 != " " }.map(Character.init)
        guard !digits.isEmpty else { return nil }
        if digits.count % 2 == 1 { digits.insert("0", at: 0) }
        guard var bytes = decode(String(digits)) else { return nil }
        while bytes.count > 1 && bytes[0] == 0 { bytes.removeFirst() }
        return bytes.hexString
    }
}
