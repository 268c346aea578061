import Foundation
import Testing
import KlammerTestSupport

/// Issue 15: a child that prints nothing must fail the read within its deadline, not hang the suite.
@Suite struct BoundedOutputTests {
    @Test func silentChildFailsWithinTheDeadlineAndIsKilled() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["30"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let started = Date()
        let error = #expect(throws: KlammerdHarness.Failure.self) {
            try BoundedOutput.collect(from: pipe, of: process, awaiting: "a listening line", timeout: 1) { $0.contains("listening") }
        }
        #expect(Date().timeIntervalSince(started) < 15)
        #expect(!process.isRunning)
        #expect(error?.description.contains("(nothing)") == true)
        #expect(error?.description.contains("killed (SIGKILL)") == true)
    }
}
