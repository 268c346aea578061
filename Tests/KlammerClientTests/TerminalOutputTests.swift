import Foundation
import Testing
import KlammerTestSupport

/// A sender's subject with control characters and escape sequences is printed escaped (SPEC.md §13) by
/// `klammer receive`, `klammer verify` and `klammerctl queue peek` (whose table `dlq list` shares).
@Suite struct TerminalOutputTests {
    static let schwerin = "ags:13004000"
    static let rostock = "ags:13003000"
    /// Clears the screen, sets the window title, rings the bell, forges a second output line, reverses text.
    static let evil = "Bescheid\u{1B}[2J\u{1B}]0;pwned\u{07}\nreceived 00000000000000000000000000000000 FAKE\u{202E}fdp.exe"

    static func isClean(_ text: String) -> Bool {
        !text.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" || $0 == "\u{202E}" }
    }

    @Test func subjectWithControlCharactersIsPrintedEscaped() async throws {
        let base = try TempDir()
        let daemon = try Daemon(dataDirectory: base.file("dev"))
        let document = base.file("bescheid.txt")
        try "Bescheid".write(toFile: document, atomically: true, encoding: .utf8)
        let send = try ProcessRunner.klammer(
            ["send", "--to", Self.rostock, "--subject", Self.evil, document],
            environment: daemon.environment(Self.schwerin))
        #expect(send.status == 0, "\(send.stderr)")
        let messageID = try #require(send.stdout.firstMatch(of: /message ([0-9a-f]{32})/)?.1).description

        let peek = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammerctl"),
            ["queue", "peek", Self.rostock, "--socket", base.file("dev") + "/admin.sock"])
        #expect(peek.status == 0, "\(peek.stderr)")
        #expect(Self.isClean(peek.stdout), "\(peek.stdout.debugDescription)")
        #expect(peek.stdout.contains(#"Bescheid\u{1B}[2J\u{1B}]0;pwned\u{7}\nreceived"#), "\(peek.stdout)")
        #expect(peek.stdout.split(separator: "\n").count == 2, "a forged line: \(peek.stdout)")

        let out = base.file("inbox")
        let receive = try ProcessRunner.klammer(["receive", "--out", out], environment: daemon.environment(Self.rostock))
        #expect(receive.status == 0, "\(receive.stderr)")
        #expect(Self.isClean(receive.stdout), "\(receive.stdout.debugDescription)")
        #expect(receive.stdout.split(separator: "\n").count == 1, "a forged line: \(receive.stdout)")
        #expect(receive.stdout.contains(#"\u{202E}fdp.exe"#))

        let verify = try ProcessRunner.klammer(["verify", "--ca", daemon.caPath, out + "/" + messageID])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(Self.isClean(verify.stdout), "\(verify.stdout.debugDescription)")
        #expect(verify.stdout.contains(#"subject       Bescheid\u{1B}[2J"#), "\(verify.stdout)")
        // The stored envelope keeps the subject exactly as signed.
        let json = try String(contentsOfFile: out + "/" + messageID + "/envelope.json", encoding: .utf8)
        #expect(json.contains("pwned"))
    }
}
