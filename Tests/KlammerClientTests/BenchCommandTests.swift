import Foundation
import KlammerTestSupport
import Testing

/// Smoke test of `klammer bench`: it starts its own `klammerd --dev`, runs W1 for a second and prints one JSON object
/// per line with the documented keys.
@Suite struct BenchCommandTests {
    static let keys = ["workload", "msgs_per_s", "mib_per_s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors",
                       "durability", "tls", "broker_cpu", "broker_rss_mib"]

    @Test func w1JSONLines() throws {
        let result = try ProcessRunner.runIsolated(ProcessRunner.binary("klammer"),
                                                   ["bench", "--workload", "W1", "--duration", "1s", "--json"], seconds: 120)
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
    }

    /// W4 with a few recipients created at run time (dev CA, admin socket): every round completes, none fails.
    @Test func w4FanOutRounds() throws {
        let result = try ProcessRunner.runIsolated(ProcessRunner.binary("klammer"),
                                                   ["bench", "--workload", "W4", "--duration", "1s", "--fanout", "5", "--no-limits", "--json"],
                                                   seconds: 120)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        let w4 = try #require(lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }, "\(result.stdout)")
        #expect(w4["workload"] as? String == "W4")
        #expect((w4["msgs_per_s"] as? Double ?? 0) > 0, "\(result.stdout)")
        #expect(w4["errors"] as? Int == 0, "\(result.stdout)")
        let extra = try #require(w4["extra"] as? [String: Any], "\(result.stdout)")
        #expect(extra["recipients"] as? Double == 5)
    }
}
