import ArgumentParser
import Foundation
import KlammerPKI

/// The `--dir` option shared by all `pki` commands, with the `KLAMMER_PKI_DIR` fallback.
struct PKIDirectoryOption: ParsableArguments {
    /// Environment variable consulted when `--dir` is absent.
    static let environmentVariable = "KLAMMER_PKI_DIR"

    @Option(
        name: .customLong("dir"),
        help: ArgumentHelp("The CA directory (default: $KLAMMER_PKI_DIR).", valueName: "dir"),
        completion: .directory)
    var dir: String?

    /// The CA directory from `--dir` or the environment.
    func resolve() throws -> CADirectory {
        if let dir, !dir.isEmpty { return CADirectory(path: dir) }
        if let env = ProcessInfo.processInfo.environment[Self.environmentVariable], !env.isEmpty {
            return CADirectory(path: env)
        }
        throw ValidationError("no CA directory given; pass --dir DIR or set \(Self.environmentVariable)")
    }
}
