import Foundation

/// A temporary directory removed when the value is deinitialised.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("klammerctl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Permission bits of `name`.
    func mode(_ name: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path(name))
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
}

/// The outcome of a child process.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs the real `klammerctl` binary and the `openssl` CLI as child processes.
enum ProcessRunner {
    /// `klammerctl` next to the test bundle: resolve /proc/self/exe and walk up at most 4 directories;
    /// fall back to `.build/debug/klammerctl`.
    static let klammerctl: String = {
        var directory = URL(fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent("klammerctl").path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
               FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/klammerctl"
    }()

    static let openssl: String = {
        for candidate in ["/usr/bin/openssl", "/usr/local/bin/openssl", "/opt/homebrew/bin/openssl"]
        where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        return "/usr/bin/openssl"
    }()

    /// Runs `klammerctl arguments` in `directory`; KLAMMER_PKI_DIR is removed from the environment unless given.
    static func klammerctl(_ arguments: [String], in directory: TempDir, environment: [String: String] = [:]) throws -> CommandResult {
        try run(klammerctl, arguments, in: directory, environment: environment)
    }

    static func openssl(_ arguments: [String], in directory: TempDir) throws -> CommandResult {
        try run(openssl, arguments, in: directory, environment: [:])
    }

    static func run(_ executable: String, _ arguments: [String], in directory: TempDir, environment: [String: String]) throws -> CommandResult {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory.url
        var env = ProcessInfo.processInfo.environment
        env["KLAMMER_PKI_DIR"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let out = Pipe()
        // stderr goes to a file so a chatty child cannot block on a second pipe while we read the first.
        let errorPath = directory.path(".stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        defer { try? FileManager.default.removeItem(atPath: errorPath) }
        process.standardOutput = out
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try errorHandle.close()
        // Read to EOF first, then wait: polling isRunning is unreliable on Linux.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errData = FileManager.default.contents(atPath: errorPath) ?? Data()
        return CommandResult(status: process.terminationStatus,
                             stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errData, as: UTF8.self))
    }
}
