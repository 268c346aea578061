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

    /// The port of the `metrics` banner line (0 unless `waitForMetrics`).
    public private(set) var metricsPort = 0
    /// Signalled by the termination handler: lets `stop()` and `deinit` wait with a deadline.
    private let exited = DispatchSemaphore(value: 0)

    /// Starts klammerd and reads its start-up lines, bounded by `startupTimeout` seconds: if they do not all appear
    /// (the daemon prints nothing, prints them otherwise, or dies first) the daemon is killed and this throws with
    /// the output read so far, its exit status and its stderr log.
    public init(
        arguments: [String], logDirectory: String, environment: [String: String] = [:], waitForAdminTLS: Bool = false,
        waitForMetrics: Bool = false, startupTimeout: TimeInterval = BoundedOutput.defaultTimeout
    ) throws {
        stderrFile = logDirectory + "/klammerd.stderr"
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: BuiltExecutable.path("klammerd"))
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: stderrFile)
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        var port = 0, socket = "", adminTLSPort = 0, metricsPort = 0
        let stderrFile = self.stderrFile
        _ = try BoundedOutput.collect(
            from: stdout, of: process, awaiting: "its listening and admin lines",
            timeout: startupTimeout,
            context: { "stderr: " + ((try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "") }
        ) { text in
            if let range = text.range(of: #"listening +[0-9.]+:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last!)!
            }
            if let range = text.range(of: #"admin-tls +[0-9.]+:(\d+)"#, options: .regularExpression) {
                adminTLSPort = Int(text[range].split(separator: ":").last!)!
            }
            if let range = text.range(of: #"admin +(/\S+)"#, options: .regularExpression) {
                socket = String(text[range].split(separator: " ").last!)
            }
            if let range = text.range(of: #"metrics +http://127\.0\.0\.1:(\d+)/"#, options: .regularExpression) {
                metricsPort = Int(text[range].split(separator: ":").last!.dropLast())!
            }
            return port != 0 && !socket.isEmpty && (!waitForAdminTLS || adminTLSPort != 0) && (!waitForMetrics || metricsPort != 0)
        }
        self.port = port
        self.socket = socket
        self.adminTLSPort = adminTLSPort
        self.metricsPort = metricsPort
    }

    public var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }

    /// SIGTERM, then wait for the graceful shutdown; if it takes longer than `timeout` seconds, SIGKILL (the
    /// returned status is then 9 from a signal, which no test expects, so the test fails instead of hanging).
    public func stop(timeout: TimeInterval = BoundedOutput.defaultTimeout) -> Int32 {
        process.terminate()
        waitOrKill(timeout: timeout)
        return process.terminationStatus
    }

    /// Waits for the exit up to `timeout` seconds, then SIGKILL.
    public func waitOrKill(timeout: TimeInterval = BoundedOutput.defaultTimeout) {
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            BoundedOutput.kill(process)
        } else {
            exited.signal()  // keep it signalled for a later wait
            process.waitUntilExit()  // it has exited: returns at once, and Foundation has the status
        }
    }

    deinit {
        if process.isRunning {
            process.interrupt()
            waitOrKill()
        }
    }
}
