import Foundation
#if canImport(Glibc)
    import Glibc
#endif

extension AuditLog {
    /// Most entries one tail returns.
    public static let maximumTailCount = 10_000

    /// The last `count` complete entries of the log at `path`, oldest first. A line being written concurrently
    /// (no newline yet) is not returned. Reads backwards in 64 KiB steps, so the cost does not grow with the log.
    public static func tail(path: String, count: Int) throws -> [AuditEntry] {
        let wanted = min(max(count, 0), maximumTailCount)
        guard wanted > 0 else { return [] }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AuditError(.io, "cannot open the audit log \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw AuditError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))") }
        var end = Int(info.st_size)
        var buffer: [UInt8] = []
        // Everything before the first newline in `buffer` may be a partial line unless we reached offset 0.
        while end > 0 {
            let step = min(end, maximumEntryBytes)
            buffer = try read(fd, offset: end - step, count: step, path: path) + buffer
            end -= step
            if buffer.reduce(0, { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }) > wanted { break }
            if buffer.count > (wanted + 1) * maximumEntryBytes { break }
        }
        guard let lastNewline = buffer.lastIndex(of: UInt8(ascii: "\n")) else { return [] }
        var lines = buffer[..<lastNewline].split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if end > 0 { lines.removeFirst() }  // cut mid-line
        return try lines.suffix(wanted).map { line in
            do {
                return try AuditEntry.decode(line: line)
            } catch {
                throw AuditError(.corrupt, "an entry near the end of \(path) cannot be parsed (\(error)); run 'klammerctl audit verify'")
            }
        }
    }
}
