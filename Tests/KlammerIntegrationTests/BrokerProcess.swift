import Foundation
import KlammerTestSupport

/// A real `klammerd --config FILE` process (under `timeout`, so it cannot outlive the run) that the suite can
/// SIGKILL and restart on the same data directory. The listening port is read from the banner at each start
/// (`listen.port: 0`), so clients ask for `address` again after a restart.
actor BrokerProcess {
    let configPath: String
    let logDirectory: String
    let adminSocket: String
    let lifetimeSeconds: Int
    private var process: Process?
    private(set) var pid: Int32 = 0
    private(set) var port = 0
    private(set) var starts = 0
    private(set) var kills = 0
    private(set) var maxRSSKiB = 0

    init(configPath: String, logDirectory: String, adminSocket: String, lifetimeSeconds: Int) {
        self.configPath = configPath
        self.logDirectory = logDirectory
        self.adminSocket = adminSocket
        self.lifetimeSeconds = lifetimeSeconds
    }

    var address: String { "127.0.0.1:\(port)" }
    var isRunning: Bool { pid != 0 }

    /// Starts klammerd and waits (bounded) for its `listening` line.
    func start() async throws {
        precondition(pid == 0, "klammerd is already running")
        starts += 1
        let out = logDirectory + "/klammerd-\(starts).out", err = logDirectory + "/klammerd-\(starts).err"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "2", "\(lifetimeSeconds)", Tool.binary("klammerd"), "--config", configPath]
        process.environment = Tool.cleanEnvironment()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        // Test runner threads block SIGINT/SIGTERM and a child inherits the spawning thread's mask: unblock them for
        // the spawn only, so klammerd's graceful shutdown on SIGTERM works.
        var termination = sigset_t(), previous = sigset_t()
        sigemptyset(&termination)
        sigaddset(&termination, SIGTERM)
        sigaddset(&termination, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &termination, &previous)
        try process.run()
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        self.process = process
        let deadline = Date() + 90
        var child: Int32 = 0
        var found = 0
        while Date() < deadline {
            if child == 0 { child = Self.childPID(of: process.processIdentifier) }
            let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
            if let match = text.firstMatch(of: /listening +127\.0\.0\.1:(\d+)/) {
                found = Int(match.1)!
                if child != 0 { break }
            }
            if !Self.alive(process.processIdentifier) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard found != 0, child != 0 else {
            let log = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
            if child != 0 { kill(child, SIGKILL) }
            process.waitUntilExit()
            self.process = nil
            throw IntegrationError("klammerd did not start (start \(starts)): \(log.suffix(2000))")
        }
        pid = child
        port = found
        _ = sampleRSS()
    }

    /// kill -9 klammerd (no shutdown of any kind), wait until it is gone.
    func kill9() async throws {
        guard pid != 0, let process else { return }
        kills += 1
        _ = sampleRSS()
        kill(pid, SIGKILL)
        try await waitGone(process)
    }

    /// SIGTERM (graceful: GOAWAY, drain, store closed); SIGKILL after 20 s.
    func stop() async throws {
        guard pid != 0, let process else { return }
        kill(pid, SIGTERM)
        let deadline = Date() + 20
        while Date() < deadline, Self.alive(pid) { try await Task.sleep(for: .milliseconds(50)) }
        if Self.alive(pid) { kill(pid, SIGKILL) }
        try await waitGone(process)
    }

    /// Current resident set size of klammerd in KiB (VmRSS from /proc/PID/status); remembers the maximum.
    @discardableResult
    func sampleRSS() -> Int {
        guard pid != 0, let bytes = ProcessMemory.resident(of: pid) else { return 0 }
        let kib = bytes / 1024
        maxRSSKiB = max(maxRSSKiB, kib)
        return kib
    }

    func logs() -> String {
        (1...max(starts, 1)).map { (try? String(contentsOfFile: logDirectory + "/klammerd-\($0).err", encoding: .utf8)) ?? "" }
            .joined(separator: "\n--- restart ---\n")
    }

    private func waitGone(_ process: Process) async throws {
        let deadline = Date() + 30
        while Date() < deadline, Self.alive(pid) { try await Task.sleep(for: .milliseconds(20)) }
        guard !Self.alive(pid) else { throw IntegrationError("klammerd \(pid) did not exit") }
        // klammerd is gone, so `timeout` exits at once: this wait is bounded.
        while Date() < deadline, Self.alive(process.processIdentifier) { try await Task.sleep(for: .milliseconds(20)) }
        process.waitUntilExit()
        self.process = nil
        pid = 0
    }

    /// True while the process exists and is not a zombie.
    static func alive(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).first
        return state != "Z" && state != "X"
    }

    static func childPID(of pid: Int32) -> Int32 {
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.first ?? 0
    }
}
