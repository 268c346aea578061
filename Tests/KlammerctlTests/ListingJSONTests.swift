import Foundation
import KlammerTestSupport
import Testing

/// Every command that lists or shows something offers `--json` (issue #6: "`--json` on every listing"), and the
/// admin TLS options are checked before anything is sent.
struct ListingJSONTests {
    static let listings: [[String]] = [
        ["status"], ["participant", "list"], ["participant", "show"], ["queue", "list"], ["queue", "stats"],
        ["queue", "peek"], ["dlq", "list"], ["message", "trace"], ["audit", "tail"], ["audit", "verify"],
        ["pki", "list"], ["pki", "expiring"], ["store", "scrub"], ["reload"]
    ]

    @Test(arguments: listings)
    func listingCommandOffersJSON(_ command: [String]) throws {
        let tmp = try TempDir()
        let help = try ProcessRunner.klammerctl(command + ["--help"], in: tmp)
        #expect(help.status == 0, "\(help.stderr)")
        #expect(help.stdout.contains("--json"), "klammerctl \(command.joined(separator: " ")) has no --json")
    }

    @Test func adminURLWithoutCertificatesIsAUsageError() throws {
        let tmp = try TempDir()
        let result = try ProcessRunner.klammerctl(["status", "--admin-url", "https://127.0.0.1:1"], in: tmp)
        #expect(result.status == 64)
        #expect(result.stderr.contains("--admin-cert"))
        let notHTTPS = try ProcessRunner.klammerctl(
            ["status", "--admin-url", "http://127.0.0.1:1", "--admin-cert", "a.pem", "--admin-key", "a.key", "--admin-ca", "ca.pem"],
            in: tmp)
        #expect(notHTTPS.status == 1)
        #expect(notHTTPS.stderr.contains("https://HOST:PORT"))
    }
}
