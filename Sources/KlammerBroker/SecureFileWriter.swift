public import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Writes files the way a crash-safe, least-privilege service must: to a temporary name, with an explicit mode
/// (private keys 0600), fsynced, renamed into place, and the directory fsynced so the new name survives a crash.
public enum SecureFileWriter {
    /// Atomically writes `contents` to `path` with permission bits `mode`. Refuses to overwrite an existing file
    /// unless `overwrite` is true.
    public static func write(_ contents: [UInt8], to path: String, mode: mode_t, overwrite: Bool = false) throws {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw BrokerError(.fileExists, "\(path) already exists; refusing to overwrite it. Move it away first if you really mean to replace it.")
        }
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else {
            throw BrokerError(.io, "cannot create \(temporary): \(String(cString: strerror(errno))). Check that \(directory) exists and is writable.")
        }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        // The umask may have narrowed `mode` (fine) but never widen beyond it.
        _ = fchmod(fd, mode)
        do {
            defer { close(fd) }
            try FileDescriptor(rawValue: fd).writeAll(contents)  // retries EINTR and short writes
            guard fsync(fd) == 0 else { throw Errno(rawValue: errno) }
        } catch {
            throw BrokerError(.io, "cannot write \(path): \(error). Check free disk space and permissions.")
        }
        guard rename(temporary, path) == 0 else {
            throw BrokerError(.io, "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno))).")
        }
        ok = true
        try fsyncDirectory(directory)
    }

    /// fsyncs a directory so that file creations and renames in it are durable.
    public static func fsyncDirectory(_ directory: String) throws {
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw BrokerError(.io, "cannot open directory \(directory): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw BrokerError(.io, "cannot fsync directory \(directory): \(String(cString: strerror(errno))).")
        }
    }

    /// Creates `path` (and parents) with mode 0700 if it does not exist.
    public static func makePrivateDirectory(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BrokerError(.io, "cannot create directory \(path): \(error.localizedDescription).")
        }
    }
}
