public import Foundation
import SystemPackage
#if canImport(Glibc)
    import Glibc
#endif

/// Writes files the way a crash-safe, least-privilege service must: to a temporary name, with an explicit mode
/// (private keys 0600), fsynced, renamed into place, and the directory fsynced so the new name survives a crash.
public enum SecureFileWriter {
    /// Atomically writes `contents` to `path` with permission bits `mode`. Refuses to overwrite an existing file
    /// unless `overwrite` is true (without overwrite the new name is linked, so a file created meanwhile is not
    /// replaced either).
    ///
    /// The temporary file next to `path` has an unpredictable name and is created with `O_EXCL|O_NOFOLLOW`: a file
    /// or symlink planted there by someone who can write the directory is never followed or reused. A failing
    /// `fchmod` (the mode could not be set) fails the write.
    public static func write(_ contents: [UInt8], to path: String, mode: mode_t, overwrite: Bool = false) throws {
        try write(contents, to: path, mode: mode, overwrite: overwrite, temporaryName: randomTemporaryName, changeMode: fchmod)
    }

    /// Attempts at an unused temporary name before giving up (each name carries 64 random bits).
    static let temporaryNameAttempts = 8

    static func randomTemporaryName(for path: String) -> String {
        "\(path).tmp-" + String(UInt64.random(in: .min ... .max), radix: 16)
    }

    /// ``write(_:to:mode:overwrite:)`` with the temporary name and `fchmod` injectable (tests plant symlinks at the
    /// name and make `fchmod` fail).
    static func write(
        _ contents: [UInt8], to path: String, mode: mode_t, overwrite: Bool,
        temporaryName: (String) -> String, changeMode: (Int32, mode_t) -> Int32
    ) throws {
        if !overwrite && FileManager.default.fileExists(atPath: path) {
            throw BrokerError(
                .fileExists, "\(path) already exists; refusing to overwrite it. Move it away first if you really mean to replace it.")
        }
        let directory = (path as NSString).deletingLastPathComponent
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<temporaryNameAttempts {
            temporary = temporaryName(path)
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            throw BrokerError(
                .io,
                "cannot create a temporary file next to \(path) (last tried \(temporary)): \(String(cString: strerror(errno))). Check that \(directory) exists, is writable and holds no stray *.tmp-* files."
            )
        }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        // The umask may have narrowed `mode`; set it exactly (never wider, never silently something else).
        guard changeMode(fd, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw BrokerError(
                .io,
                "cannot set mode \(String(mode, radix: 8)) on \(temporary): \(reason); nothing was written to \(path). Check the file system supports permissions."
            )
        }
        do {
            defer { close(fd) }
            try FileDescriptor(rawValue: fd).writeAll(contents)  // retries EINTR and short writes
            guard fsync(fd) == 0 else { throw Errno(rawValue: errno) }
        } catch {
            throw BrokerError(.io, "cannot write \(path): \(error). Check free disk space and permissions.")
        }
        if overwrite {
            guard rename(temporary, path) == 0 else {
                throw BrokerError(.io, "cannot rename \(temporary) to \(path): \(String(cString: strerror(errno))).")
            }
        } else {
            guard link(temporary, path) == 0 else {
                if errno == EEXIST {
                    throw BrokerError(
                        .fileExists,
                        "\(path) already exists; refusing to overwrite it. Move it away first if you really mean to replace it.")
                }
                throw BrokerError(.io, "cannot create \(path): \(String(cString: strerror(errno))).")
            }
            unlink(temporary)
        }
        ok = true
        try fsyncDirectory(directory)
    }

    /// Refuses an existing directory that is about to receive private files (e.g. `klammerctl pki issue --out`) if
    /// it is not a real directory owned by this user or if group or others may write it, or others may read or enter
    /// it: someone else could then swap or read the files.
    public static func requirePrivateDirectory(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            throw BrokerError(.io, "cannot inspect \(path): \(String(cString: strerror(errno))).")
        }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw BrokerError(
                .io, "\(path) exists but is not a directory (a symlink or file); give a new or private directory for the key.")
        }
        guard st.st_uid == geteuid() else {
            throw BrokerError(
                .io,
                "\(path) belongs to uid \(st.st_uid), not to this user (uid \(geteuid())); the key must go into a directory only you control."
            )
        }
        let loose = st.st_mode & 0o027
        guard loose == 0 else {
            throw BrokerError(
                .io,
                "\(path) has mode \(String(st.st_mode & 0o777, radix: 8)): group-writable or accessible to others, so others could read or swap the private key written there. Run `chmod 700 \(path)` or choose a new directory."
            )
        }
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
