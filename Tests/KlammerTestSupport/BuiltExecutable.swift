import Foundation

/// Finds an executable product of this package (klammerd, klammerctl, ...) for a test to run.
public enum BuiltExecutable {
    /// The path of product `name`: from the directory in environment variable `directoryVariable` when that is set
    /// and not empty (e.g. `KLAMMER_INTEGRATION_BIN` for a release build's directory), else next to the test bundle
    /// (resolve /proc/self/exe and walk up at most 4 directories), else `.build/debug/NAME` below the current directory.
    public static func path(_ name: String, directoryVariable: String? = nil) -> String {
        if let directoryVariable, let directory = ProcessInfo.processInfo.environment[directoryVariable], !directory.isEmpty {
            return URL(fileURLWithPath: directory).appendingPathComponent(name).path
        }
        var directory = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
        ).deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = directory.appendingPathComponent(name).path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue,
                FileManager.default.isExecutableFile(atPath: candidate)
            {
                return candidate
            }
            directory = directory.deletingLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath + "/.build/debug/\(name)"
    }
}
