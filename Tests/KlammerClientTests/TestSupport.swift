import Foundation
import KlammerCrypto
@testable import KlammerClient
import KlammerProtocol
import KlammerTestSupport

/// A temporary directory removed when released.
typealias TempDir = TemporaryDirectory

/// A throwaway CA with participants, generated at run time (KlammerTestSupport's `TestCA`; no key is ever
/// committed), written to a temporary directory for the tools.
struct TestPKI {
    let testCA: TestCA
    var ca: CertificateAuthority { testCA.authority }
    let directory: TempDir

    init() throws {
        directory = try TempDir()
        testCA = try TestCA("Klammer Client Test CA", organization: "Tests", keyKind: .p256)
        try directory.write("ca.pem", testCA.certificate.pemString)
    }

    var caPath: String { directory.file("ca.pem") }
    var trustStore: TrustStore { testCA.trustStore }

    /// Issues a participant certificate + key, writes them as `<id>.pem` / `<id>.key`.
    func participant(_ id: String) throws -> (credentials: ClientCredentials, certPath: String, keyPath: String) {
        let leaf = try testCA.issue(id)
        let (certPath, keyPath) = try leaf.write(to: directory, as: id.replacingOccurrences(of: ":", with: "-"))
        return (
            try ClientCredentials(certificateChain: [leaf.certificate], privateKey: leaf.key, trustStore: trustStore), certPath, keyPath
        )
    }
}

/// Runs executables under coreutils `timeout` (so no child can hang a test).
extension ProcessRunner {
    static func binary(_ name: String) -> String { BuiltExecutable.path(name) }

    /// Runs `executable` without the caller's KLAMMER_* variables, `environment` on top, for at most `seconds`.
    static func runIsolated(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        seconds: Int = 30
    ) throws -> ProcessResult {
        try run(
            executable, arguments, environment: Self.environment(removing: { $0.hasPrefix("KLAMMER_") }, adding: environment),
            timeoutSeconds: seconds)
    }

    static func klammer(_ arguments: [String], environment: [String: String] = [:]) throws -> ProcessResult {
        try runIsolated(binary("klammer"), arguments, environment: environment)
    }

    static func openssl(_ arguments: [String]) throws -> ProcessResult {
        try runIsolated("/usr/bin/openssl", arguments, seconds: 20)
    }
}

/// A running `klammerd --dev --data DIR --port 0` (under `timeout`, so it cannot outlive the test run); the port is
/// read from its banner. Interrupted and reaped when released.
final class Daemon {
    let process = Process()
    let stdout = Pipe()
    let dataDirectory: String
    let stderrFile: String
    private(set) var port = 0

    /// `arguments` are added to the dev command line (e.g. `--max-document-bytes`); `lifetimeSeconds` bounds the
    /// process (coreutils `timeout`).
    init(dataDirectory: String, arguments: [String] = [], lifetimeSeconds: Int = 180) throws {
        self.dataDirectory = dataDirectory
        stderrFile = dataDirectory + ".stderr"
        _ = FileManager.default.createFile(atPath: stderrFile, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments =
            [
                "-k", "2", "\(lifetimeSeconds)", ProcessRunner.binary("klammerd"), "--dev", "--data", dataDirectory,
                "--port", "0"
            ] + arguments
        process.standardOutput = stdout
        process.standardError = FileHandle(forWritingAtPath: stderrFile)
        process.standardInput = FileHandle.nullDevice
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        // Test runner threads block SIGINT/SIGTERM and a spawned child inherits the spawning thread's mask, so
        // `timeout` could never forward our SIGTERM. Unblock them for the spawn only.
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
                port = Int(text[range].split(separator: ":").last!)!
            }
        }
        guard port != 0 else {
            process.terminate()
            _ = exited.wait(timeout: .now() + 10)
            throw KlammerClientError(.connectionFailed, "klammerd did not print a listening line: \(text) \(log)")
        }
    }

    var log: String { (try? String(contentsOfFile: stderrFile, encoding: .utf8)) ?? "" }
    var broker: String { "127.0.0.1:\(port)" }
    var pki: String { (dataDirectory as NSString).appendingPathComponent("pki") }
    var caPath: String { pki + "/ca.pem" }
    func certPath(_ id: String) -> String { pki + "/participants/\(id.replacingOccurrences(of: ":", with: "-"))/cert.pem" }
    func keyPath(_ id: String) -> String { pki + "/participants/\(id.replacingOccurrences(of: ":", with: "-"))/key.pem" }
    func profile(_ id: String) -> ClientProfile {
        ClientProfile(certificatePath: certPath(id), keyPath: keyPath(id), caPath: caPath, broker: broker)
    }
    func environment(_ id: String) -> [String: String] {
        ["KLAMMER_CERT": certPath(id), "KLAMMER_KEY": keyPath(id), "KLAMMER_CA": caPath, "KLAMMER_BROKER": broker]
    }

    /// The pid of klammerd itself (the child of `timeout`).
    var brokerPID: Int32? {
        let pid = process.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return children.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.first
    }

    /// klammerd's resident set size and its peak (`VmRSS`, `VmHWM` of /proc/PID/status), in bytes.
    func memory() -> (rss: UInt64, peak: UInt64)? {
        guard let pid = brokerPID, let rss = ProcessMemory.resident(of: pid), let peak = ProcessMemory.peak(of: pid) else { return nil }
        return (UInt64(rss), UInt64(peak))
    }

    /// kill -9 of klammerd itself (the child of `timeout`), as a crash would; waits until it is reaped.
    func killHard() {
        let pid = process.processIdentifier
        let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
            kill(child, SIGKILL)
        }
        _ = exited.wait(timeout: .now() + 10)
        exited.signal()  // deinit waits on it again
    }

    /// Signalled by the termination handler, so teardown can wait with a bound instead of polling `isRunning`.
    private let exited = DispatchSemaphore(value: 0)

    deinit {
        if process.isRunning { process.terminate() }  // `timeout` forwards SIGTERM to klammerd: graceful shutdown
        if exited.wait(timeout: .now() + 10) == .timedOut {
            // klammerd did not finish its graceful shutdown: kill it (the child of `timeout`), then reap.
            let children =
                (try? String(
                    contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) {
                kill(child, SIGKILL)
            }
            _ = exited.wait(timeout: .now() + 10)
        }
        try? FileManager.default.removeItem(atPath: stderrFile)
    }
}
