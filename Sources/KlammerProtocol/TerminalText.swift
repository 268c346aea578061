/// Participant-controlled text (subject, content type) made safe to print on a terminal or into a log line
/// (SPEC.md §5.2, §13): a sender must not be able to move the cursor, recolour or clear an operator's screen, forge
/// extra output lines, or reorder text with bidi overrides.
///
/// Escaped, so that the output is one line of printable characters and the original stays recoverable: C0 controls
/// and DEL (`\n`, `\r`, `\t` by name, the rest as `\u{1B}`), C1 controls U+0080–U+009F, the line and paragraph
/// separators U+2028/U+2029, the bidi embeddings, overrides and isolates U+202A–U+202E and U+2066–U+2069, and the
/// backslash itself (`\\`). Every other character, non-ASCII letters included, is kept.
public enum TerminalText {
    /// `text` with every control, separator and bidi control character escaped (see ``TerminalText``).
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            let escaped: String
            switch scalar {
            case "\\": escaped = "\\\\"
            case "\n": escaped = "\\n"
            case "\r": escaped = "\\r"
            case "\t": escaped = "\\t"
            default: escaped = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            out.append(contentsOf: escaped.unicodeScalars)
        }
        return String(out)
    }

    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x5C: return true
        case 0x2028, 0x2029, 0x202A...0x202E, 0x2066...0x2069: return true
        default: return false
        }
    }
}
