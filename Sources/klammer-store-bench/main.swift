// klammer-store-bench: durable append throughput/latency, document MB/s and restart time of KlammerStore, printed
// next to the raw limits of the same disk measured in the same run. Not a test: numbers depend on the machine.
import ArgumentParser
import Foundation
import Glibc
import KlammerStore
import Synchronization

@main
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "klammer-store-bench",
        abstract: "Benchmark KlammerStore against raw disk limits.")

    @Option(help: "Directory on the disk to measure (a fresh subdirectory is created and removed).")
    var directory: String = NSTemporaryDirectory()

    @Option(help: "Seconds per append measurement.")
    var seconds: Double = 3

    @Option(help: "Concurrent appender counts.")
    var appenders: [Int] = [1, 16, 256]

    @Option(help: "Number of 1 MiB documents.")
    var documents: Int = 200

    @Option(help: "Parts to run: raw, append, docs, restart (comma separated).")
    var parts: String = "raw,append,docs,restart"

    @Option(help: "Keep/reuse this directory for the restart measurement (filled only if empty).")
    var restartDirectory: String?

    @Option(help: "Queued messages for the restart measurement (0 skips it).")
    var restartMessages: Int = 1_000_000

    mutating func run() async throws {
        let root = directory + "/klammer-store-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        print("klammer-store-bench in \(root)")

        let want = Set(parts.split(separator: ",").map(String.init))
        // Raw limits.
        var syncRate = 1.0, rawMBs = 1.0
        if want.contains("raw") || want.contains("append") || want.contains("docs") {
            syncRate = rawFdatasyncRate(root + "/raw-sync", seconds: min(seconds, 2))
            rawMBs = rawSequentialMBs(root + "/raw-seq", mib: 256)
            print(String(format: "raw: single-writer 1 KiB write+fdatasync: %.0f/s", syncRate))
            print(String(format: "raw: sequential 1 MiB write+fdatasync: %.1f MB/s", rawMBs))
        }

        // Durable appends.
        var rate256 = 0.0
        for n in appenders where want.contains("append") {
            let dir = root + "/append-\(n)"
            let (rate, p50, p99) = try await appendRun(dir: dir, appenders: n, seconds: seconds, targetRate: nil)
            if n == 256 { rate256 = rate }
            print(
                String(
                    format: "store: %3d appenders: %8.0f durable 1 KiB appends/s  p50 %.2f ms  p99 %.2f ms  "
                        + "(%.1fx raw fdatasync rate)", n, rate, p50, p99, rate / syncRate))
            try? FileManager.default.removeItem(atPath: dir)
        }
        if rate256 > 0 && want.contains("append") {
            let (rate, p50, p99) = try await appendRun(
                dir: root + "/paced", appenders: 256, seconds: seconds,
                targetRate: rate256 / 2)
            print(
                String(
                    format: "store: 256 appenders paced at half (%.0f/s offered): %.0f/s  p50 %.2f ms  p99 %.2f ms",
                    rate256 / 2, rate, p50, p99))
            try? FileManager.default.removeItem(atPath: root + "/paced")
        }

        // 1 MiB documents via blobs.
        if want.contains("docs") {
            for uploaders in [1, 4] {
                let mbs = try await documentRun(dir: root + "/docs", count: documents, uploaders: uploaders)
                print(
                    String(
                        format: "store: 1 MiB documents, %d uploader(s): %.1f MB/s (%.0f%% of raw sequential %.1f MB/s)",
                        uploaders, mbs, 100 * mbs / rawMBs, rawMBs))
                try? FileManager.default.removeItem(atPath: root + "/docs")
            }
        }

        if restartMessages > 0 && want.contains("restart") {
            let (fill, open, rep) = try await restartRun(dir: restartDirectory ?? (root + "/restart"), messages: restartMessages)
            print(
                String(
                    format: "store: restart with %d queued 1 KiB messages: %.2f s (filled in %.1f s; %d segments, %d records)",
                    rep.messages, open, fill, rep.segments, rep.records))
        }
    }
}

func durationSeconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

func rawFdatasyncRate(_ path: String, seconds: Double) -> Double {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(fd); unlink(path) }
    let buf = [UInt8](repeating: 7, count: 1024)
    var off: off_t = 0
    var n = 0
    let start = ContinuousClock.now
    while durationSeconds(ContinuousClock.now - start) < seconds {
        _ = buf.withUnsafeBytes { pwrite(fd, $0.baseAddress, 1024, off) }
        fdatasync(fd)
        off += 1024
        n += 1
    }
    return Double(n) / durationSeconds(ContinuousClock.now - start)
}

func rawSequentialMBs(_ path: String, mib: Int) -> Double {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    defer { close(fd); unlink(path) }
    let buf = [UInt8](repeating: 7, count: 1 << 20)
    let start = ContinuousClock.now
    for i in 0..<mib {
        _ = buf.withUnsafeBytes { pwrite(fd, $0.baseAddress, 1 << 20, off_t(i) << 20) }
        fdatasync(fd)
    }
    return Double(mib) * 1.048576 / durationSeconds(ContinuousClock.now - start)
}

final class Latencies: Sendable {
    let m = Mutex<[Double]>([])
    func add(_ xs: [Double]) { m.withLock { $0.append(contentsOf: xs) } }
    func percentiles() -> (Double, Double, Int) {
        m.withLock { v in
            v.sort()
            guard !v.isEmpty else { return (0, 0, 0) }
            return (v[v.count / 2], v[min(v.count - 1, Int(Double(v.count) * 0.99))], v.count)
        }
    }
}

func appendRun(dir: String, appenders: Int, seconds: Double, targetRate: Double?) async throws -> (Double, Double, Double) {
    var c = StoreConfiguration(directory: dir)
    c.maintenanceInterval = .zero
    c.pipelinedCompletions = ProcessInfo.processInfo.environment["KLAMMER_STORE_INLINE_COMPLETIONS"] != "1"
    let store = try await KlammerStore.open(c)
    let lat = Latencies()
    let payload = [UInt8](repeating: 0x42, count: 1024)
    let start = ContinuousClock.now
    let end = start + .nanoseconds(Int64(seconds * 1e9))
    let interval: Duration? = targetRate.map { .nanoseconds(Int64(Double(appenders) / $0 * 1e9)) }
    try await withThrowingTaskGroup(of: Void.self) { g in
        for t in 0..<appenders {
            g.addTask {
                var local: [Double] = []
                var i = 0
                var next = start + (interval.map { $0 * Double(t) / Double(appenders) } ?? .zero)
                while ContinuousClock.now < end {
                    if let interval {
                        let now = ContinuousClock.now
                        if next > now { try await Task.sleep(until: next, clock: .continuous) }
                        next += interval
                    }
                    let t0 = ContinuousClock.now
                    _ = try await store.append(
                        MessageRecord(
                            sender: "s\(t)", clientMessageID: "\(i)", recipients: ["r"],
                            envelope: [], payload: .inline(payload), outcome: [1]))
                    local.append(durationSeconds(ContinuousClock.now - t0) * 1000)
                    i += 1
                }
                lat.add(local)
            }
        }
        try await g.waitForAll()
    }
    let elapsed = durationSeconds(ContinuousClock.now - start)
    await store.close()
    let (p50, p99, n) = lat.percentiles()
    return (Double(n) / elapsed, p50, p99)
}

func documentRun(dir: String, count: Int, uploaders: Int) async throws -> Double {
    var c = StoreConfiguration(directory: dir)
    c.maintenanceInterval = .zero
    let store = try await KlammerStore.open(c)
    let start = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { g in
        for u in 0..<uploaders {
            g.addTask {
                let chunk = [UInt8](repeating: 0x33, count: 256 << 10)
                for i in stride(from: u, to: count, by: uploaders) {
                    let w = try store.beginBlob()
                    for _ in 0..<4 { try w.write(chunk) }
                    let ref = try w.finish()
                    _ = try await store.append(
                        MessageRecord(
                            sender: "s\(u)", clientMessageID: "\(i)", recipients: ["r"],
                            envelope: [], payload: .blob(ref), outcome: [1]))
                }
            }
        }
        try await g.waitForAll()
    }
    let mbs = Double(count) * 1.048576 / durationSeconds(ContinuousClock.now - start)
    await store.close()
    return mbs
}

func restartRun(dir: String, messages: Int) async throws -> (Double, Double, RecoveryReport) {
    var c = StoreConfiguration(directory: dir)
    c.maintenanceInterval = .zero
    let store = try await KlammerStore.open(c)
    let payload = [UInt8](repeating: 0x42, count: 1024)
    let start = ContinuousClock.now
    let per = store.recoveryReport.messages > 0 ? 0 : messages / 256
    try await withThrowingTaskGroup(of: Void.self) { g in
        for t in 0..<256 {
            g.addTask {
                for i in 0..<(per == 0 ? 0 : per + (t < messages % 256 ? 1 : 0)) {
                    _ = try await store.append(
                        MessageRecord(
                            sender: "s\(t)", clientMessageID: "\(i)",
                            recipients: ["r\(t % 16)"], envelope: [],
                            payload: .inline(payload), outcome: [1]))
                }
            }
        }
        try await g.waitForAll()
    }
    let fill = durationSeconds(ContinuousClock.now - start)
    await store.close()
    let t0 = ContinuousClock.now
    let again = try await KlammerStore.open(c)
    let open = durationSeconds(ContinuousClock.now - t0)
    let rep = again.recoveryReport
    await again.close()
    return (fill, open, rep)
}
