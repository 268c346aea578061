import Foundation
import KlammerTestSupport

/// A temporary directory removed when the value is deinitialised.
typealias TempDir = TemporaryDirectory

extension TemporaryDirectory {
    /// Permission bits of `name`.
    func mode(_ name: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path(name))
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: path(name)) }
}

/// Runs the real `klammerctl` binary and the `openssl` CLI as child processes.
extension ProcessRunner {
    /// `klammerctl` next to the test bundle.
    static let klammerctl = BuiltExecutable.path("klammerctl")

    /// Runs `klammerctl arguments` in `directory`; KLAMMER_PKI_DIR is removed from the environment unless given.
    static func klammerctl(_ arguments: [String], in directory: TempDir, environment: [String: String] = [:]) throws -> ProcessResult {
        try run(klammerctl, arguments, in: directory, environment: environment)
    }

    static func openssl(_ arguments: [String], in directory: TempDir) throws -> ProcessResult {
        try run(openssl, arguments, in: directory, environment: [:])
    }

    /// Runs `executable` in `directory` without a time limit, as the tests always did.
    static func run(_ executable: String, _ arguments: [String], in directory: TempDir, environment: [String: String]) throws
        -> ProcessResult
    {
        try run(
            executable, arguments, environment: Self.environment(removing: { $0 == "KLAMMER_PKI_DIR" }, adding: environment),
            currentDirectory: directory.path, timeoutSeconds: nil)
    }
}
