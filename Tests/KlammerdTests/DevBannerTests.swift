import Dispatch
import Foundation
import Synchronization
import KlammerTestSupport
import Testing

/// What `klammerd --dev` prints must work when pasted: every command line of its start-up output (the "try it"
/// lines and the `(klammerctl …)` hint of the admin line) is run, as a shell would split it, and must succeed.
@Suite(.serialized) struct DevBannerTests {
    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The command lines in klammerd's start-up output: lines that start with `.build/debug/`, and a parenthesised
    /// hint that starts with `klammerctl ` or `klammer `.
    static func commandLines(in output: String) -> [String] {
        var commands: [String] = []
        for line in output.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix(".build/debug/") {
                commands.append(trimmed)
            } else if let range = trimmed.range(of: #"\((klammerctl|klammer) [^)]*\)"#, options: .regularExpression) {
                commands.append(String(trimmed[range].dropFirst().dropLast()))
            }
        }
        return commands
    }

    /// Splits a command line as `sh` does for the banner's lines: on spaces, except inside single or double quotes.
    static func words(_ line: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        for character in line {
            if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == " " {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    /// The executable a pasted command would start: `.build/debug/NAME` or a bare `NAME` is our product `NAME`.
    static func executable(_ word: String) -> String {
        BuiltExecutable.path(word.hasPrefix(".build/debug/") ? String(word.dropFirst(".build/debug/".count)) : word)
    }

    @Test func everyPrintedCommandWorksWhenPasted() throws {
        // Short: the admin socket path must stay below 108 bytes.
        let temp = "/tmp/kdb-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: temp + "/work", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: temp) }
        // The "try it" lines send README.md from the package directory; the copy here stands in for it.
        try Data("# a test document\n".utf8).write(to: URL(fileURLWithPath: temp + "/work/README.md"))

        let daemon = Process()
        let stdout = Pipe()
        daemon.executableURL = URL(fileURLWithPath: BuiltExecutable.path("klammerd"))
        daemon.arguments = ["--dev", "--data", temp + "/dev", "--port", "0", "--log-level", "error"]
        daemon.standardOutput = stdout
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            if daemon.isRunning {
                daemon.interrupt()
                daemon.waitUntilExit()
            }
        }
        // Read until the banner, the admin line and the metrics line are all there (each is one write, in any
        // order). Bounded: a watchdog interrupts the daemon after 60 s, which ends the read with EOF.
        let reading = Mutex(true)
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) {
            if reading.withLock({ $0 }), daemon.isRunning { daemon.interrupt() }
        }
        var output = ""
        func complete() -> Bool {
            let lines = output.split(separator: "\n")
            return output.hasSuffix("\n") && lines.contains { $0.hasPrefix("    .build/debug/klammerctl ") }
                && lines.contains { $0.hasPrefix("  admin ") } && lines.contains { $0.hasPrefix("  metrics ") }
        }
        while !complete() {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            output += String(decoding: chunk, as: UTF8.self)
        }
        reading.withLock { $0 = false }
        guard complete() else { throw Failure(description: "klammerd --dev did not print its banner, admin and metrics lines: \(output)") }

        let commands = Self.commandLines(in: output)
        // send, receive, and klammerctl status twice (the "try it" line and the admin line's hint).
        #expect(commands.count == 4, "\(commands) from \(output)")
        #expect(commands.contains { $0.hasPrefix(".build/debug/klammer send ") })
        #expect(commands.contains { $0.hasPrefix(".build/debug/klammer receive ") })
        #expect(commands.filter { $0.contains("klammerctl status") }.count == 2)
        let environment = ProcessRunner.environment(removing: { $0.hasPrefix("KLAMMER_") })
        // In the order printed: send first, so that receive has a message to fetch.
        for command in commands {
            let words = Self.words(command)
            let result = try ProcessRunner.run(
                Self.executable(words[0]), Array(words.dropFirst()), environment: environment,
                currentDirectory: temp + "/work", timeoutSeconds: 60)
            #expect(result.status == 0, "'\(command)' exited \(result.status): \(result.stderr) \(result.stdout)")
            if command.contains("klammerctl status") {
                #expect(result.stdout.contains("(dev), broker broker:klammer-dev"), "\(result.stdout)")
            }
        }
        let received = try FileManager.default.contentsOfDirectory(atPath: temp + "/work/inbox").filter { !$0.hasPrefix(".") }
        #expect(received.count == 1, "the pasted receive line fetched \(received)")
    }

    @Test func wordsSplitLikeAShell() {
        #expect(Self.words("klammer send --subject 'Test it' \"a b\" x") == ["klammer", "send", "--subject", "Test it", "a b", "x"])
        #expect(
            Self.commandLines(in: "  admin   /s  (klammerctl status --socket /s)\n    .build/debug/klammer send x\n") == [
                "klammerctl status --socket /s", ".build/debug/klammer send x"
            ])
    }
}
