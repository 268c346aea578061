public import Foundation
#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads a child process's output pipe with a deadline, so a test never hangs on a child that prints nothing, prints
/// in another order than expected, or dies first (issue 15).
///
/// Every wait is a `poll(2)` on the pipe bounded by the time left (event-based, no guessed sleeps); a blocking
/// `availableData` / `readLine` could wait forever. On end of output, at the deadline or past `maximumBytes`, the child
/// is killed (SIGKILL) and reaped, and a `KlammerdHarness.Failure` names what was awaited, why it stopped, the child's
/// exit status and everything read so far.
public enum BoundedOutput {
    /// The start-up deadline of our daemons: generous for a loaded 2-core CI machine, finite.
    public static let defaultTimeout: TimeInterval = 60
    /// Output kept at most (the start-up banner is a few hundred bytes).
    public static let maximumBytes = 1 << 20

    /// Reads `pipe` (the child's stdout) until `isComplete` holds for the text read so far, and returns that text.
    /// - Parameters:
    ///   - awaited: what the caller waits for, for the failure message ("klammerd's listening and admin lines").
    ///   - timeout: seconds from now.
    ///   - context: appended to the failure message (e.g. the child's stderr log).
    public static func collect(
        from pipe: Pipe, of process: Process, awaiting awaited: String,
        timeout: TimeInterval = defaultTimeout, context: () -> String = { "" },
        until isComplete: (String) -> Bool
    ) throws -> String {
        let fd = pipe.fileHandleForReading.fileDescriptor
        let deadline = Date() + timeout
        var bytes = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var reason: String
        while true {
            if isComplete(String(decoding: bytes, as: UTF8.self)) { return String(decoding: bytes, as: UTF8.self) }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { reason = "nothing matching within \(Int(timeout)) s"; break }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32((min(left, 60) * 1000).rounded(.up)))
            if ready < 0 {
                if errno == EINTR { continue }
                reason = "poll on the output pipe failed (errno \(errno))"
                break
            }
            if ready == 0 { continue }  // the loop re-checks the deadline
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                reason = "reading the output pipe failed (errno \(errno))"
                break
            }
            if count == 0 { reason = "its output ended (it closed stdout or exited)"; break }
            bytes.append(contentsOf: buffer[0..<count])
            if bytes.count > maximumBytes { reason = "more than \(maximumBytes) bytes of output"; break }
        }
        let status = kill(process)
        let text = String(decoding: bytes, as: UTF8.self)
        throw KlammerdHarness.Failure(
            description: """
                \(process.executableURL?.lastPathComponent ?? "child") did not print \(awaited): \(reason); \(status). \
                Output so far: \(text.isEmpty ? "(nothing)" : text) \(context())
                """)
    }

    /// SIGKILL if still running, reap, and say how the process ended. SIGKILL cannot be caught or ignored, so the
    /// `waitUntilExit()` after it returns.
    @discardableResult
    public static func kill(_ process: Process) -> String {
        let wasRunning = process.isRunning
        if wasRunning {
            #if canImport(Glibc)
                _ = Glibc.kill(process.processIdentifier, SIGKILL)
            #else
                _ = Darwin.kill(process.processIdentifier, SIGKILL)
            #endif
        }
        process.waitUntilExit()
        return describe(process, killedByHarness: wasRunning)
    }

    /// "exited with status N" / "killed by signal N", for failure messages.
    public static func describe(_ process: Process, killedByHarness: Bool = false) -> String {
        let how =
            process.terminationReason == .uncaughtSignal
            ? "killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
        return killedByHarness ? "it was still running and was killed (SIGKILL): \(how)" : "it \(how)"
    }
}
