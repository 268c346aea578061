import Foundation
import Synchronization

/// A one-line progress display for large transfers, only when stdout is a terminal.
final class ProgressLine: Sendable {
    /// Transfers smaller than this show no progress.
    static let minimumBytes: UInt64 = 4 << 20

    private let label: String
    private let total: UInt64
    private let lastPercent = Mutex<Int>(-1)

    /// nil unless stdout is a terminal and the transfer is large.
    init?(label: String, total: UInt64) {
        guard total >= Self.minimumBytes, isatty(STDOUT_FILENO) == 1 else { return nil }
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
        let line = String(format: "\r%@: %.1f / %.1f MiB (%d%%)", label, Double(done) / 1_048_576, Double(total) / 1_048_576, percent)
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func finish() {
        FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8))
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
