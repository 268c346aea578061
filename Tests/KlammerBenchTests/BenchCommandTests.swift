import Foundation
import KlammerTestSupport
import Testing

extension ProcessRunner {
    static func binary(_ name: String) -> String { BuiltExecutable.path(name) }

    /// Runs `executable` without the caller's KLAMMER_* variables for at most `seconds`.
    static func runIsolated(_ executable: String, _ arguments: [String], seconds: Int) throws -> ProcessResult {
        try run(executable, arguments, environment: Self.environment(removing: { $0.hasPrefix("KLAMMER_") }), timeoutSeconds: seconds)
    }
}

/// Smoke test of `klammer-bench`: it starts its own `klammerd --dev`, runs W1 for a second and prints one JSON object
/// per line with the documented keys. It checks that the bench runs and its output parses, not the numbers.
@Suite struct BenchCommandTests {
    static let keys = [
        "workload", "msgs_per_s", "mib_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors",
        "durability", "tls", "broker_cpu", "broker_rss_mib",
        // issue 13: client CPU next to the broker's, p999, the machine's fdatasync beside each result
        "p999_ms", "broker_cpu_us_per_msg", "client_cpu", "client_cpu_us_per_msg", "fsync_p50_ms", "fsync_p99_ms"
    ]

    @Test func w1JSONLines() throws {
        let result = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammer-bench"),
            ["--workload", "W1", "--duration", "1s", "--json"], seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "\($0)") }
        #expect(objects.count == 2, "\(result.stdout)")
        let limits = try #require(objects.first?["limits"] as? [String: Any])
        #expect((limits["ecdsaP256SignPerSecond"] as? Double ?? 0) > 0)
        let w1 = try #require(objects.last)
        for key in Self.keys { #expect(w1.keys.contains(key), "missing \(key)") }
        #expect(w1["workload"] as? String == "W1")
        #expect((w1["msgs_per_s"] as? Double ?? 0) > 0, "\(result.stdout)")
        #expect((w1["p99_ms"] as? Double ?? 0) >= (w1["p50_ms"] as? Double ?? 0))
        #expect(w1["errors"] as? Int == 0, "\(result.stdout)")
        #expect((w1["broker_rss_mib"] as? Double ?? 0) > 0)
        #expect((w1["client_cpu_us_per_msg"] as? Double ?? 0) > 0, "\(result.stdout)")
        #expect((w1["fsync_p99_ms"] as? Double ?? 0) > 0, "\(result.stdout)")
        // One batch signature per --batch (256) messages, signed before the timer (the note says how many).
        #expect((w1["note"] as? String ?? "").contains("batch-signed ×256"), "\(result.stdout)")
    }

    /// W1-open and W2-open at a low rate: one line per rate with the scheduled rate, p999 and the achieved rate; the
    /// side-by-side script's W1/W2/W3 names stay free.
    @Test func openLoopLines() throws {
        let result = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammer-bench"),
            [
                "--workload", "W1-open", "--workload", "W2-open", "--rate", "100,200",
                "--duration", "1s", "--no-limits", "--json"
            ], seconds: 180)
        #expect(result.status == 0, "\(result.stderr)")
        let objects = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["workload"] != nil }
        #expect(objects.map { $0["workload"] as? String } == ["W1-open", "W1-open", "W2-open", "W2-open"], "\(result.stdout)")
        #expect(objects.map { $0["target_msgs_per_s"] as? Double } == [100, 200, 100, 200], "\(result.stdout)")
        for line in objects {
            for key in Self.keys { #expect(line.keys.contains(key), "missing \(key)") }
            #expect((line["msgs_per_s"] as? Double ?? 0) > 0, "\(result.stdout)")
            #expect((line["p999_ms"] as? Double ?? 0) >= (line["p99_ms"] as? Double ?? 0))
            #expect(line["errors"] as? Int == 0, "\(result.stdout)")
        }
    }

    /// W4 with a few recipients created at run time (dev CA, admin socket): every round completes, none fails.
    @Test func w4FanOutRounds() throws {
        let result = try ProcessRunner.runIsolated(
            ProcessRunner.binary("klammer-bench"),
            ["--workload", "W4", "--duration", "1s", "--fanout", "5", "--no-limits", "--json"],
            seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let w4 = try #require(
            lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(result.stdout)")
        #expect(w4["workload"] as? String == "W4")
        #expect((w4["msgs_per_s"] as? Double ?? 0) > 0, "\(result.stdout)")
        #expect(w4["errors"] as? Int == 0, "\(result.stdout)")
        let extra = try #require(w4["extra"] as? [String: Any], "\(result.stdout)")
        #expect(extra["recipients"] as? Double == 5)
    }
}
