import KlammerProtocol

/// The syntax of participant ids: `scheme:value`, scheme `[a-z][a-z0-9-]{0,15}`, value `[A-Za-z0-9._-]{1,64}`,
/// e.g. `ags:13004000` (the official municipality key).
public enum ParticipantIDSyntax {
    public static let maximumLength = 16 + 1 + 64

    /// True if `id` is a valid participant id. Delegates to `KlammerProtocol.ParticipantID`, so every id the
    /// registry accepts converts to the protocol type the broker core uses (one definition of the syntax).
    public static func isValid(_ id: String) -> Bool {
        (try? ParticipantID(id)) != nil
    }

    static func isIDCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "." || c == "_" || c == "-")
    }

    /// Throws `invalidParticipantID` with a message that shows the expected form.
    public static func validate(_ id: String) throws {
        guard isValid(id) else {
            throw BrokerError(
                .invalidParticipantID,
                "'\(id)' is not a participant id; expected scheme:value such as 'ags:13004000' (scheme: lowercase letters, digits, '-', at most 16; value: letters, digits, '.', '_', '-', 1 to 64)."
            )
        }
    }
}
