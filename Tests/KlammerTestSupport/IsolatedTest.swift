import Foundation

/// Runs one test again, alone, in a child process of the test binary: for tests that measure their own process
/// (resident memory, its peak, RssAnon after `malloc_trim`). In the shared test process those numbers depend on what
/// every earlier test allocated, fragmented and left in malloc's arenas; in a fresh child only the test's own work
/// counts, measured against a baseline the child takes itself.
///
/// Use at the top of the test:
///
///     if let child = try IsolatedTest.runAlone("ReceiptLogTests/replayAndIndexStaySmallAgainstTheFile") {
///         #expect(child.passed, "\(child.failure)")
///         return
///     }
///     ... the measurement, which runs only in the child ...
///
/// In the shared process `runAlone` starts the test binary (`/proc/self/exe --testing-library swift-testing
/// --filter NAME`, environment variable `KLAMMER_ISOLATED_TEST=NAME`), waits for it (bounded) and returns what it
/// did; in that child it returns `nil` and the test goes on. The child's own printed lines are passed on.
public enum IsolatedTest {
    /// The environment variable that tells the child which test it is to run itself.
    public static let variable = "KLAMMER_ISOLATED_TEST"

    /// What the child run of a test did.
    public struct Outcome: Sendable {
        public let name: String
        public let result: ProcessResult
        /// The child ran the test body (it printed the marker) and exited 0: every expectation in it held.
        public var passed: Bool { result.status == 0 && ranBody }
        /// The child printed the marker: the filter found the test and the body started (a filter that matches
        /// nothing exits 69 and would otherwise prove nothing).
        public var ranBody: Bool { result.stdout.contains(IsolatedTest.marker(name)) }
        /// Why it did not pass, with the child's whole output, for the parent's failure message.
        public var failure: String {
            let why =
                result.status == 124 || result.status == 137
                ? "timed out"
                : !ranBody
                    ? "never ran the test body (filter '\(name)' matched no test?)"
                    : "failed"
            return "the isolated child run of \(name) \(why) (exit status \(result.status)):\n\(result.stdout)\n\(result.stderr)"
        }
    }

    static func marker(_ name: String) -> String { "klammer-isolated-test: running \(name) alone" }

    /// True in the child run for `name`: for a test whose parent prepares something (writes a file) before the child
    /// measures; it still calls `runAlone` in the child, which prints the marker.
    public static func isChild(_ name: String) -> Bool { ProcessInfo.processInfo.environment[variable] == name }

    /// `nil` in the child run for `name` (the caller runs the test body); otherwise runs the child and returns it.
    /// - Parameters:
    ///   - name: `Suite/test` (without the parentheses), a part of the test's qualified name that selects only it.
    ///   - environment: added to the child's environment (e.g. the path of what the parent prepared).
    ///   - timeoutSeconds: the child runs under `timeout -k 2 N`; keep it below the suite's time limit.
    public static func runAlone(_ name: String, environment: [String: String] = [:], timeoutSeconds: Int = 600) throws -> Outcome? {
        if isChild(name) {
            print(marker(name))
            return nil
        }
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let filter = NSRegularExpression.escapedPattern(for: name)
        let result = try ProcessRunner.run(
            binary, ["--testing-library", "swift-testing", "--filter", filter],
            environment: ProcessRunner.environment(adding: environment.merging([variable: name, "NO_COLOR": "1"]) { $1 }),
            timeoutSeconds: timeoutSeconds)
        let outcome = Outcome(name: name, result: result)
        // Pass on what the test printed (its measured numbers), not the child's test-library event lines.
        for line in result.stdout.split(separator: "\n") where !isTestLibraryLine(line) {
            print("[\(name), alone] \(line)")
        }
        return outcome
    }

    /// A line of swift-testing's own console output (`◇ Test x started.`, `✔ ...`, `↳ ...`).
    static func isTestLibraryLine(_ line: Substring) -> Bool {
        guard let first = line.unicodeScalars.first else { return true }
        return first == "\u{1B}" || !first.isASCII || line.hasPrefix("klammer-isolated-test:")
    }
}
