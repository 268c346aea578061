import Foundation
#if canImport(Glibc)
    import Glibc
#endif

/// How a received message is made durable before it is acknowledged (SPEC.md §5.10): every file is written with
/// `O_EXCL|O_NOFOLLOW` and fsynced, then the directory holding it, then the staging directory is renamed into place and
/// the parent directory is fsynced. Only after that may the ACK go out: a crash after the ACK then cannot lose a
/// message the broker has already forgotten.
///
/// `observe` sees every step right after it happened. The default does nothing; a test records the order, or throws to
/// inject a failure at one step (the write then fails with ``KlammerClientError/Kind/fileError`` and nothing is
/// acknowledged).
public struct DurableSync: Sendable {
    /// One durable step.
    public enum Step: Sendable, Hashable {
        /// `fsync` of a regular file returned.
        case fileSynced(String)
        /// `fsync` of a directory returned.
        case directorySynced(String)
        /// `rename(2)` returned.
        case renamed(from: String, to: String)
    }

    /// Called after each step; a thrown error fails the write.
    public var observe: @Sendable (Step) throws -> Void

    /// - Parameter observe: called after each step (tests record or inject faults).
    public init(observe: @escaping @Sendable (Step) throws -> Void = { _ in }) {
        self.observe = observe
    }

    /// Real fsyncs, no observer.
    public static let standard = DurableSync()

    func report(_ step: Step) throws(KlammerClientError) {
        do { try observe(step) } catch {
            throw KlammerClientError(.fileError, "\(step) failed: \(error)")
        }
    }

    /// Creates `path` (must not exist, is not followed if it is a symlink), writes `bytes`, fsyncs, closes.
    func create(_ path: String, _ bytes: some Collection<UInt8>) throws(KlammerClientError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("create", path) }
        defer { close(fd) }
        let buffer = Array(bytes)
        var written = 0
        while written < buffer.count {
            let n = buffer.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw Self.failure("write", path) }
            written += n
        }
        guard fsync(fd) == 0 else { throw Self.failure("fsync", path) }
        try report(.fileSynced(path))
    }

    /// Replaces `path` by a new file: written as `path.partial`, fsynced, renamed over `path`. The caller syncs the
    /// directory.
    func replace(_ path: String, _ bytes: some Collection<UInt8>) throws(KlammerClientError) {
        let partial = path + ".partial"
        unlink(partial)
        try create(partial, bytes)
        try rename(partial, path)
    }

    /// fsyncs an existing regular file (not followed if it is a symlink).
    func syncFile(_ path: String) throws(KlammerClientError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Self.failure("fsync", path) }
        try report(.fileSynced(path))
    }

    /// fsyncs a directory, which makes the names created, renamed or removed in it durable.
    func syncDirectory(_ path: String) throws(KlammerClientError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open directory", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Self.failure("fsync directory", path) }
        try report(.directorySynced(path))
    }

    /// `rename(2)`; the caller syncs the directory (or directories) afterwards.
    func rename(_ from: String, _ to: String) throws(KlammerClientError) {
        guard Glibc.rename(from, to) == 0 else { throw Self.failure("rename to \(to)", from) }
        try report(.renamed(from: from, to: to))
    }

    /// fsyncs every regular file below `directory`, then each directory bottom-up (for a message directory an older
    /// `klammer` wrote without fsync).
    func syncTree(_ directory: String) throws(KlammerClientError) {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for name in names {
            let path = (directory as NSString).appendingPathComponent(name)
            var st = stat()
            guard lstat(path, &st) == 0 else { throw Self.failure("stat", path) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR: try syncTree(path)
            case S_IFREG: try syncFile(path)
            default: continue  // symlinks and others are never written by klammer; not followed
            }
        }
        try syncDirectory(directory)
    }

    static func failure(_ what: String, _ path: String) -> KlammerClientError {
        let reason = String(cString: strerror(errno))
        return KlammerClientError(.fileError, "cannot \(what) \(path): \(reason); check the directory's permissions and free space")
    }
}
