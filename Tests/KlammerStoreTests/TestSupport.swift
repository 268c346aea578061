import Foundation
import Glibc
import KlammerStore
import Synchronization

/// A fresh directory under /tmp, removed by `cleanup()`.
struct TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "klammer-store-test-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Manually advanced clock.
final class TestClock: Sendable {
    let t = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { t.withLock { $0 } }
    func advance(_ seconds: Double) { t.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

/// Fault-injecting and counting FileIO wrapper around the real implementation.
final class FaultyFileIO: FileIO {
    struct Faults {
        var failDatasync: Int32?
        var failWrite: Int32?
        var datasyncs = 0
        var writes = 0
    }
    let base = PosixFileIO()
    let faults = Mutex(Faults())

    var datasyncCount: Int { faults.withLock { $0.datasyncs } }

    /// Waits (bounded, polling every millisecond) until more than `count` fdatasyncs happened; false at the timeout.
    func waitForDatasyncs(moreThan count: Int, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while datasyncCount <= count {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return true
    }
    func set(datasync: Int32? = nil, write: Int32? = nil) {
        faults.withLock {
            $0.failDatasync = datasync; $0.failWrite = write
        }
    }

    func open(_ path: String, flags: Int32, mode: mode_t) throws(FileIOError) -> Int32 { try base.open(path, flags: flags, mode: mode) }
    func close(_ fd: Int32) { base.close(fd) }
    func pwrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, offset: UInt64, path: String) throws(FileIOError) {
        if let e = faults.withLock({ f -> Int32? in
            f.writes += 1; return f.failWrite
        }) {
            // Simulate a partial write before failing, like a real ENOSPC.
            if buffer.count > 1 {
                try base.pwrite(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<buffer.count / 2]), offset: offset, path: path)
            }
            throw FileIOError(operation: "pwrite", path: path, errno: e)
        }
        try base.pwrite(fd, buffer, offset: offset, path: path)
    }
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: UInt64, path: String) throws(FileIOError) -> Int {
        try base.pread(fd, buffer, offset: offset, path: path)
    }
    func fdatasync(_ fd: Int32, path: String) throws(FileIOError) {
        if let e = faults.withLock({ f -> Int32? in
            f.datasyncs += 1; return f.failDatasync
        }) {
            throw FileIOError(operation: "fdatasync", path: path, errno: e)
        }
        try base.fdatasync(fd, path: path)
    }
    func ftruncate(_ fd: Int32, size: UInt64, path: String) throws(FileIOError) { try base.ftruncate(fd, size: size, path: path) }
    func rename(_ from: String, _ to: String) throws(FileIOError) { try base.rename(from, to) }
    func unlink(_ path: String) throws(FileIOError) { try base.unlink(path) }
    func fsyncDirectory(_ path: String) throws(FileIOError) { try base.fsyncDirectory(path) }
    func makeDirectory(_ path: String) throws(FileIOError) { try base.makeDirectory(path) }
    func listDirectory(_ path: String) throws(FileIOError) -> [String] { try base.listDirectory(path) }
    func fileSize(_ fd: Int32, path: String) throws(FileIOError) -> UInt64 { try base.fileSize(fd, path: path) }
    func modificationTime(_ path: String) -> Double? { base.modificationTime(path) }
}

func testConfig(_ dir: TempDir, clock: TestClock? = nil, io: (any FileIO)? = nil) -> StoreConfiguration {
    var c = StoreConfiguration(directory: dir.path)
    c.maintenanceInterval = .zero
    c.segmentSize = 16 << 10
    if let clock { c.now = { clock.now() } }
    if let io { c.fileIO = io }
    return c
}

func msg(
    _ sender: String, _ id: String, to recipients: [String] = ["bob"], payload: String? = nil,
    expiresAt: Date? = nil
) -> MessageRecord {
    MessageRecord(
        sender: sender, clientMessageID: id, recipients: recipients, envelope: Array("env-\(id)".utf8),
        payload: .inline(Array((payload ?? "payload of \(sender)/\(id)").utf8)), expiresAt: expiresAt,
        outcome: Array("receipt-\(sender)-\(id)".utf8))
}

func segmentFiles(_ dir: TempDir) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/log")) ?? []).filter { $0.hasSuffix(".klog") }.sorted()
}

func quarantineFiles(_ dir: TempDir) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/quarantine")) ?? []).sorted()
}

extension KlammerStore {
    func ids(_ recipient: String) throws -> [String] {
        try browse(recipient: recipient, limit: 100_000).map { $0.clientMessageID }
    }
}

/// The next store event, or nil after `timeout` (so a missing event fails the test instead of hanging it).
func nextEvent(_ store: KlammerStore, timeout: Duration = .seconds(20)) async -> StoreEvent? {
    await withTaskGroup(of: StoreEvent?.self) { g in
        g.addTask {
            var it = store.events.makeAsyncIterator()
            return await it.next()
        }
        g.addTask {
            try? await Task.sleep(for: timeout)
            return nil
        }
        let first = await g.next() ?? nil
        g.cancelAll()
        return first
    }
}
