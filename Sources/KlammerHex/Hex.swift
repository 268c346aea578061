/// Hexadecimal text for bytes: the package's one coder, behind message ids, digests, certificate fingerprints and
/// serial numbers, the audit chain's hashes and the test vectors. `package`, not public: no product exports it.
package enum Hex {
    /// Lowercase hex, two digits per byte, no separators.
    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes hex digits (either case), skipping the characters in `separators` (e.g. OpenSSL's `:`).
    /// Returns nil for any other character or an odd number of digits.
    package static func decode(_ text: String, ignoring separators: Set<Unicode.Scalar> = []) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for scalar in text.unicodeScalars {
            if separators.contains(scalar) { continue }
            let nibble: UInt8
            switch scalar {
            case "0"..."9": nibble = UInt8(scalar.value - 48)
            case "a"..."f": nibble = UInt8(scalar.value - 87)
            case "A"..."F": nibble = UInt8(scalar.value - 55)
            default: return nil
            }
            if let h = high {
                out.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return high == nil ? out : nil
    }
}
