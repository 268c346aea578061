import Foundation
import KlammerServer
import KlammerTestSupport
import Testing

/// klammerd raises its open-file soft limit to the hard one and refuses to start when even the hard limit cannot hold
/// what `limits.max_connections` and `limits.max_open_uploads` allow (issue 14, item 7; SPEC.md §12): otherwise the
/// broker would meet EMFILE under load at a random point instead of a documented bound.
struct DescriptorLimitProcessTests {
    @Test func tooLowOpenFileLimitRefusesToStartNamingTheKeys() throws {
        let temp = try AdminProcessTests.TempDir()
        let config = try AdminProcessTests.writeProductionSetup(in: temp.path).config
        // A hard limit of 600 (set by the shell for klammerd only) against the defaults: 1024 + 4096 + 512 needed.
        let script = "ulimit -Sn 300 && ulimit -Hn 600 && exec \"$KLAMMERD\" --config \"$CONFIG\""
        let environment = ProcessRunner.environment(
            removing: { $0 == "KLAMMER_ADMIN_SOCKET" },
            adding: [
                "KLAMMERD": AdminProcessTests.binary("klammerd"), "CONFIG": config, "KLAMMER_LISTEN_PORT": "0"
            ])
        let refused = try ProcessRunner.run("/bin/sh", ["-c", script], environment: environment, timeoutSeconds: 30)
        #expect(refused.status == 64, "\(refused.stdout) \(refused.stderr)")
        // The soft limit (300) was raised to the hard one first.
        #expect(refused.stderr.contains("the open-file limit is 600 (hard limit 600)"), "\(refused.stderr)")
        #expect(refused.stderr.contains("limits.max_connections (1024) + limits.max_open_uploads (4096)"))
        #expect(refused.stderr.contains("need 5632 descriptors"))
        #expect(refused.stderr.contains("ulimit -Hn"))
        #expect(!FileManager.default.fileExists(atPath: temp.path + "/data/store"), "nothing opened before the check")
    }

    @Test func neededDescriptorsFollowTheLimits() {
        #expect(DescriptorLimit.needed(connections: 1024, openUploads: 4096) == 1024 + 4096 + DescriptorLimit.reserve)
        let now = DescriptorLimit.current()
        #expect(now != nil && now!.soft <= now!.hard)
    }
}
