import Foundation

/// The machine's own limits, measured on the spot so benchmark numbers can be read against them: ECDSA P-256
/// sign/verify per second, SHA-256 and AES-256-GCM throughput (all `openssl speed`, one core), and the latency of a
/// durable 1 KiB append (write + fdatasync) in the data directory's file system.
struct MachineLimits: Codable {
    var ecdsaP256SignPerSecond: Double?
    var ecdsaP256VerifyPerSecond: Double?
    var sha256MiBPerSecond: Double?
    var aes256GCMMiBPerSecond: Double?
    var fdatasyncP50Millis: Double?
    var fdatasyncP99Millis: Double?

    static func measure(directory: String) -> MachineLimits {
        var limits = MachineLimits()
        // `-mr` prints machine-readable lines: `+F2:...:sign/s` style for ECDSA, `+F:...:bytes/s` for ciphers.
        if let out = openssl(["speed", "-mr", "-seconds", "1", "ecdsap256"]) {
            for line in out.split(separator: "\n") where line.hasPrefix("+F4:") || line.hasPrefix("+F2:") {
                let f = line.split(separator: ":")
                // +F4:<index>:<bits>:<sign>:<verify> — OpenSSL 3 prints operations per second, 1.1 seconds per op.
                if f.count >= 5, let sign = Double(f[3]), let verify = Double(f[4]), sign > 0, verify > 0 {
                    limits.ecdsaP256SignPerSecond = sign < 1 ? 1 / sign : sign
                    limits.ecdsaP256VerifyPerSecond = verify < 1 ? 1 / verify : verify
                }
            }
        }
        limits.sha256MiBPerSecond = cipherSpeed(["-evp", "sha256"])
        limits.aes256GCMMiBPerSecond = cipherSpeed(["-evp", "aes-256-gcm"])
        if let (p50, p99) = fdatasyncLatency(directory: directory) {
            limits.fdatasyncP50Millis = p50
            limits.fdatasyncP99Millis = p99
        }
        return limits
    }

    /// Throughput with 16 KiB blocks, one second.
    static func cipherSpeed(_ arguments: [String]) -> Double? {
        guard let out = openssl(["speed", "-mr", "-seconds", "1", "-bytes", "16384"] + arguments) else { return nil }
        // +F:<index>:<name>:<bytes per second for each size>
        for line in out.split(separator: "\n") where line.hasPrefix("+F:") {
            if let last = line.split(separator: ":").last, let bytesPerSecond = Double(last) {
                return bytesPerSecond / 1_048_576
            }
        }
        return nil
    }

    /// 1 KiB appends with fdatasync for ~0.5 s (at most 2,000): median and p99 in milliseconds.
    static func fdatasyncLatency(directory: String) -> (Double, Double)? {
        let path = (directory as NSString).appendingPathComponent(".klammer-bench-fsync-\(getpid())")
        let fd = open(path, O_CREAT | O_WRONLY | O_APPEND | O_TRUNC, 0o600)
        guard fd >= 0 else { return nil }
        defer { close(fd); unlink(path) }
        let block = [UInt8](repeating: 0xA5, count: 1024)
        var samples: [Double] = []
        let end = ContinuousClock.now + .milliseconds(500)
        while ContinuousClock.now < end, samples.count < 2_000 {
            let start = ContinuousClock.now
            guard block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == block.count, fdatasync(fd) == 0 else { return nil }
            samples.append((ContinuousClock.now - start) / .milliseconds(1))
        }
        samples.sort()
        guard !samples.isEmpty else { return nil }
        return (samples[samples.count / 2], samples[min(samples.count - 1, samples.count * 99 / 100)])
    }

    /// Runs `openssl` under `timeout` (bounded), reading its output to EOF.
    static func openssl(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        process.arguments = ["-k", "2", "30", "openssl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        process.standardInput = FileHandle.nullDevice
        // `openssl speed -seconds` stops on SIGALRM; a child inherits the spawning thread's signal mask, and Swift's
        // concurrency threads may block signals, so spawn with an empty mask.
        var empty = sigset_t(), previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
    }

    /// Human-readable lines.
    var lines: [String] {
        func f(_ v: Double?, _ digits: Int = 0) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        return [
            "machine limits (measured now, one core): ECDSA P-256 \(f(ecdsaP256SignPerSecond)) sign/s, \(f(ecdsaP256VerifyPerSecond)) verify/s; "
                + "SHA-256 \(f(sha256MiBPerSecond)) MiB/s; AES-256-GCM \(f(aes256GCMMiBPerSecond)) MiB/s; "
                + "fdatasync 1 KiB append p50 \(f(fdatasyncP50Millis, 2)) ms, p99 \(f(fdatasyncP99Millis, 2)) ms"
        ]
    }
}
