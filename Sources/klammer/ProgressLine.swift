import Foundation
import Synchronization

/// A one-line progress display for large transfers (bytes, percent, throughput), only when stderr is a terminal, so
/// the results printed on stdout stay clean when they are piped.
final class ProgressLine: Sendable {
    /// Transfers smaller than this show no progress.
    static let minimumBytes: UInt64 = 4 << 20

    private let label: String
    private let total: UInt64
    private let lastPercent = Mutex<Int>(-1)
    private let started = ContinuousClock.now
    private let first = Mutex<UInt64?>(nil)

    /// nil unless stderr is a terminal and the transfer is large.
    init?(label: String, total: UInt64) {
        guard total >= Self.minimumBytes, isatty(STDERR_FILENO) == 1 else { return nil }
        self.label = label
        self.total = total
    }

    func update(_ done: UInt64) {
        let percent = Int(done * 100 / max(total, 1))
        let changed = lastPercent.withLock { last in
            defer { last = percent }
            return last != percent
        }
        guard changed else { return }
        // Throughput counts only this run's bytes (a resumed transfer starts with the part already there).
        let base = first.withLock { value in
            if value == nil { value = done }
            return value!
        }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let rate = seconds > 0 ? Double(done - min(done, base)) / 1_048_576 / seconds : 0
        let width = 30
        let filled = min(width, percent * width / 100)
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let line = String(
            format: "\r%@ [%@] %.1f / %.1f MiB (%d%%) %.1f MiB/s", label, bar, Double(done) / 1_048_576,
            Double(total) / 1_048_576, percent, rate)
        FileHandle.standardError.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

/// Progress lines for received messages: one ``ProgressLine`` per large message, only on a terminal.
final class ReceiveProgress: Sendable {
    private let current = Mutex<(id: String, line: ProgressLine?)?>(nil)

    func update(_ id: some CustomStringConvertible, _ received: UInt64, _ total: UInt64) {
        let key = id.description
        let line: ProgressLine? = current.withLock { state in
            if state?.id != key { state = (key, ProgressLine(label: key, total: total)) }
            return state?.line
        }
        line?.update(received)
        if received == total { line?.finish() }
    }
}
