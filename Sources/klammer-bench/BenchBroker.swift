import Foundation
import KlammerClient

/// A `klammerd --dev` the bench starts for itself (temp data directory, port 0), found next to the `klammer-bench` binary,
/// plus the /proc readings (CPU time, RSS) the results report. Stopped with SIGTERM (graceful) when the bench ends.
final class BenchBroker {
    let process = Process()
    let dataDirectory: String
    private(set) var port = 0
    private let exited = DispatchSemaphore(value: 0)

    /// Starts the daemon and waits (≤ 60 s) for its `listening` banner line.
    init(binary override: String? = nil) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("klammer-bench-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        dataDirectory = base + "/data"
        let binary = override ?? Self.siblingBinary("klammerd")
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw KlammerClientError(
                .invalidArgument,
                "klammerd not found next to klammer-bench (\(binary)); build it (swift build -c release builds both) or pass --klammerd PATH or --broker"
            )
        }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--dev", "--data", dataDirectory, "--port", "0"]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = FileHandle.nullDevice
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        // A child inherits the spawning thread's signal mask; if ours blocks SIGTERM (e.g. under a test runner),
        // klammerd could never shut down gracefully. Unblock for the spawn only.
        var termination = sigset_t(), previous = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &termination, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        let deadline = Date() + 60
        var text = ""
        while Date() < deadline, port == 0 {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }  // EOF: the daemon exited
            text += String(decoding: chunk, as: UTF8.self)
            if let range = text.range(of: #"listening +127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last!) ?? 0
            }
        }
        guard port != 0 else {
            stop()
            throw KlammerClientError(.connectionFailed, "klammerd --dev did not start: \(text)")
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        let handle = stdout.fileHandleForReading
        Thread.detachNewThread { while !handle.availableData.isEmpty {} }
    }

    var pid: Int32 { process.processIdentifier }
    var broker: String { "127.0.0.1:\(port)" }
    var pki: String { dataDirectory + "/pki" }
    func profile(_ id: String) -> ClientProfile {
        let dir = pki + "/participants/" + id.replacingOccurrences(of: ":", with: "-")
        return ClientProfile(certificatePath: dir + "/cert.pem", keyPath: dir + "/key.pem", caPath: pki + "/ca.pem", broker: broker)
    }

    /// SIGTERM, wait ≤ 10 s, then SIGKILL; removes the data directory.
    func stop() {
        if process.isRunning { process.terminate() }
        if exited.wait(timeout: .now() + 10) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            _ = exited.wait(timeout: .now() + 5)
        }
        try? FileManager.default.removeItem(atPath: (dataDirectory as NSString).deletingLastPathComponent)
    }

    /// A binary in the same directory as the running `klammer-bench`.
    static func siblingBinary(_ name: String) -> String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return ((me as NSString).deletingLastPathComponent as NSString).appendingPathComponent(name)
    }
}

/// CPU time and resident memory of a process from /proc (Linux).
struct ProcessSample {
    var cpuSeconds: Double
    var rssBytes: Int
    var time: ContinuousClock.Instant

    static func take(pid: Int32) -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        var rss = 0
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        {
            rss = (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) * 1024
        }
        return ProcessSample(cpuSeconds: (utime + stime) / ticks, rssBytes: rss, time: .now)
    }

    /// CPU cores used between two samples (1.0 = one core busy).
    static func cores(from a: ProcessSample, to b: ProcessSample) -> Double {
        let wall = (b.time - a.time) / .seconds(1)
        return wall > 0 ? (b.cpuSeconds - a.cpuSeconds) / wall : 0
    }
}
