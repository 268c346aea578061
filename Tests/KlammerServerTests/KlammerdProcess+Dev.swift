import Foundation
import KlammerTestSupport

extension KlammerdProcess {
    /// `klammerd --dev --data dataDirectory --port 0`, waiting for the listening, admin and metrics lines; its
    /// stderr goes to `klammerd.stderr` beside the data directory.
    convenience init(dataDirectory: String) throws {
        try self.init(
            arguments: ["--dev", "--data", dataDirectory, "--port", "0"],
            logDirectory: (dataDirectory as NSString).deletingLastPathComponent, waitForMetrics: true)
    }
}

extension KlammerdProcess {
    /// The `--data` argument it was started with ("" if none).
    var dataDirectory: String {
        let arguments = process.arguments ?? []
        guard let index = arguments.firstIndex(of: "--data"), index + 1 < arguments.count else { return "" }
        return arguments[index + 1]
    }
}
