import Foundation

/// Runs an executable to completion for a test and captures its exit status, stdout and stderr.
///
/// stdout is a pipe read to EOF, stderr goes to a file (a chatty child cannot block on a second pipe while we read
/// the first), and only then `waitUntilExit()`: polling `Process.isRunning` can hang on Linux. With a timeout the
/// child runs under coreutils `timeout -k 2 N`: SIGTERM after N seconds, SIGKILL 2 seconds later, so no child can
/// hang the suite.
public enum ProcessRunner {
    /// Runs `executable arguments` with stdin from /dev/null.
    /// - Parameters:
    ///   - environment: the child's whole environment; `nil` inherits this process's (see `environment(removing:adding:)`).
    ///   - currentDirectory: the child's working directory; `nil` keeps this process's.
    ///   - timeoutSeconds: run under `timeout -k 2 N`; `nil` runs the executable directly, unbounded.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String]? = nil,
        currentDirectory: String? = nil, timeoutSeconds: Int? = 60
    ) throws -> ProcessResult {
        let process = Process()
        if let timeoutSeconds {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
            process.arguments = ["-k", "2", "\(timeoutSeconds)", executable] + arguments
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        }
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        let out = Pipe()
        let errorPath = FileManager.default.temporaryDirectory
            .appendingPathComponent("klammer-run-\(UUID().uuidString).stderr").path
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        process.standardOutput = out
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            try? errorHandle.close()
            throw error
        }
        try errorHandle.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ProcessResult(
            status: process.terminationStatus, stdout: String(decoding: data, as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errorPath) ?? Data(), as: UTF8.self))
    }

    /// This process's environment without the variables `removing` selects, with `adding` on top (a test's own
    /// KLAMMER_* settings must not leak into the child it starts).
    public static func environment(
        removing: (String) -> Bool = { _ in false },
        adding: [String: String] = [:]
    ) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where removing(key) { environment[key] = nil }
        environment.merge(adding) { $1 }
        return environment
    }

    /// The `openssl` command-line tool (the interop oracle): the first of the usual places that holds one.
    public static let openssl: String = {
        for candidate in ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/bin/openssl"
    }()
}
