import Testing
import KlammerProtocol

/// `TerminalText.escape` (SPEC.md §5.2, §13): participant text cannot steer an operator's terminal or forge log lines.
@Suite struct TerminalTextTests {
    @Test func controlCharactersEscapeSequencesAndBidiControlsAreEscaped() {
        #expect(TerminalText.escape("Bescheid\u{1B}[2J\u{1B}]0;pwned\u{07}") == #"Bescheid\u{1B}[2J\u{1B}]0;pwned\u{7}"#)
        #expect(TerminalText.escape("a\nreceived FAKE\r\tb") == #"a\nreceived FAKE\r\tb"#)
        #expect(TerminalText.escape("\u{0}\u{7F}\u{85}\u{9B}31m") == #"\u{0}\u{7F}\u{85}\u{9B}31m"#)
        #expect(TerminalText.escape("invoice\u{202E}fdp.exe\u{2066}\u{2028}") == #"invoice\u{202E}fdp.exe\u{2066}\u{2028}"#)
        // The backslash is escaped too, so an escaped form can never be faked by the sender.
        #expect(TerminalText.escape(#"C:\u{1B}"#) == #"C:\\u{1B}"#)
    }

    @Test func printableTextIsKeptAsItIs() {
        for text in ["", "Anhörung zum Bauantrag §34", "Straße 5 – 12 €", "申請書", "emoji 🚒"] {
            #expect(TerminalText.escape(text) == text)
        }
    }
}
