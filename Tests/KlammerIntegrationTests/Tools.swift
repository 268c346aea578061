import Foundation

/// A temporary directory under /tmp (short paths: the admin socket path must fit `sun_path`), removed when released
/// unless `KLAMMER_INTEGRATION_KEEP` is set (then its path is printed for post-mortems).
final class TempDir: Sendable {
    let path: String
    init(_ prefix: String = "kint") throws {
        path = "/tmp/\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
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

/// The outcome of a child process.
struct CommandResult: Sendable {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the real executables under coreutils `timeout` (no child can hang the suite); output goes to files that
/// are read after the exit (no pipe can fill up).
enum Tool {
    /// `name` (klammerd, klammerctl) from `KLAMMER_INTEGRATION_BIN` if set (e.g. a release build's directory: the
    /// large size is bound by the broker's CPU), else next to the test bundle.
    static func binary(_ name: String) -> String {
        if let directory = ProcessInfo.processInfo.environment["KLAMMER_INTEGRATION_BIN"], !directory.isEmpty {
            return URL(fileURLWithPath: directory).appendingPathComponent(name).path
        }
        var directory = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/\(name)"
    }

    /// The environment for children: without the caller's KLAMMER_* variables (they would override the config).
    static func cleanEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("KLAMMER_") { env[key] = nil }
        env.merge(extra) { $1 }
        return env
    }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    seconds: Int = 60) throws -> CommandResult {
        let scratch = try TempDir("kint-run")
        let out = scratch.file("out"), err = scratch.file("err")
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "2", "\(seconds)", executable] + arguments
        process.environment = cleanEnvironment(environment)
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        process.waitUntilExit()
        return CommandResult(status: process.terminationStatus,
                             stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
                             stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? "")
    }

    /// `klammerctl ARGS`; throws with the output if it fails (every call the suite makes must succeed).
    @discardableResult
    static func klammerctl(_ arguments: [String], seconds: Int = 60) throws -> CommandResult {
        let result = try run(binary("klammerctl"), arguments, seconds: seconds)
        guard result.status == 0 else {
            throw IntegrationError("klammerctl \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr) \(result.stdout)")
        }
        return result
    }

    static func openssl(_ arguments: [String]) throws -> CommandResult {
        try run("/usr/bin/openssl", arguments, seconds: 20)
    }
}

/// A failure of the harness itself (a tool that did not start, a deadline passed), with what happened.
struct IntegrationError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
