import Foundation
import KlammerTestSupport

/// A temporary directory under /tmp (short paths: the admin socket path must fit `sun_path`), removed when released
/// unless `KLAMMER_INTEGRATION_KEEP` is set (then its path is printed for post-mortems).
final class TempDir: Sendable {
    let path: String
    init(_ prefix: String = "kint") throws {
        path = "/tmp/\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(
            atPath: path, withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
    }
    deinit {
        if ProcessInfo.processInfo.environment["KLAMMER_INTEGRATION_KEEP"] != nil {
            print("kept \(path)")
        } else {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
    func file(_ name: String) -> String { path + "/" + name }
}

/// Runs the real executables under coreutils `timeout` (no child can hang the suite).
enum Tool {
    /// `name` (klammerd, klammerctl) from `KLAMMER_INTEGRATION_BIN` if set (e.g. a release build's directory: the
    /// large size is bound by the broker's CPU), else next to the test bundle.
    static func binary(_ name: String) -> String {
        BuiltExecutable.path(name, directoryVariable: "KLAMMER_INTEGRATION_BIN")
    }

    /// The environment for children: without the caller's KLAMMER_* variables (they would override the config).
    static func cleanEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        ProcessRunner.environment(removing: { $0.hasPrefix("KLAMMER_") }, adding: extra)
    }

    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        seconds: Int = 60
    ) throws -> ProcessResult {
        try ProcessRunner.run(executable, arguments, environment: cleanEnvironment(environment), timeoutSeconds: seconds)
    }

    /// `klammerctl ARGS`; throws with the output if it fails (every call the suite makes must succeed).
    @discardableResult
    static func klammerctl(_ arguments: [String], seconds: Int = 60) throws -> ProcessResult {
        let result = try run(binary("klammerctl"), arguments, seconds: seconds)
        guard result.status == 0 else {
            throw IntegrationError(
                "klammerctl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr) \(result.stdout)")
        }
        return result
    }

    static func openssl(_ arguments: [String]) throws -> ProcessResult {
        try run("/usr/bin/openssl", arguments, seconds: 20)
    }
}

/// A failure of the harness itself (a tool that did not start, a deadline passed), with what happened.
struct IntegrationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
