public import Foundation

/// A running `klammerd` (dev or production mode) with its start-up lines read: the broker port, the admin socket
/// and (on request) the admin TLS port. Interrupted (SIGINT) when released if still running.
public final class KlammerdProcess {
    public let process = Process()
    public let stdout = Pipe()
    public let stderrFile: String
    public private(set) var port = 0
    public private(set) var socket = ""
    /// The port of the `admin-tls` banner line (0 unless `waitForAdminTLS`).
    public private(set) var adminTLSPort = 0

    public init(arguments: [String], logDirectory: String, environment: [String: String] = [:], waitForAdminTLS: Bool = false) throws {
        stderrFile = logDirectory + "/klammerd.stderr"
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: BuiltExecutable.path("klammerd"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: stderrFile)
        try process.run()
        // Read the start-up output until both the listening and the admin lines appeared; bounded by a deadline.
        let deadline = Date() + 30
        var text = ""
        while Date() < deadline, port == 0 || socket.isEmpty || (waitForAdminTLS && adminTLSPort == 0) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: #"listening +[0-9.]+:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last!)!
            }
            if let range = text.range(of: #"admin-tls +[0-9.]+:(\d+)"#, options: .regularExpression) {
                adminTLSPort = Int(text[range].split(separator: ":").last!)!
            }
            if let range = text.range(of: #"admin +(/\S+)"#, options: .regularExpression) {
                socket = String(text[range].split(separator: " ").last!)
            }
        }
        guard port != 0, !socket.isEmpty, !waitForAdminTLS || adminTLSPort != 0 else {
            process.interrupt()
            throw KlammerdHarness.Failure(description: "klammerd did not print its listening and admin lines: \(text) \(log)")
        }
    }

    public var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then wait (the daemon's graceful shutdown is bounded; the test runner's timeout is the backstop).
    public func stop() -> Int32 {
        process.terminate()
        process.waitUntilExit()
        return process.terminationStatus
    }

    deinit {
        if process.isRunning {
            process.interrupt()
            process.waitUntilExit()
        }
    }
}
