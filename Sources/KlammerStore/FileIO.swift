public import Glibc

/// An operating-system error from a `FileIO` call.
public struct FileIOError: Error, Sendable, Equatable {
    /// The operation, e.g. "fdatasync".
    public var operation: String
    /// The path involved.
    public var path: String
    /// The errno value (ENOSPC, EIO, …).
    public var errno: Int32

    /// Creates an error.
    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// `strerror` text.
    public var reason: String { String(cString: strerror(errno)) }
}

/// The file-system calls the store makes. Every write, sync, rename and delete goes through this protocol so tests
/// can inject ENOSPC/EIO. Implementations must be thread-safe.
public protocol FileIO: Sendable {
    /// open(2). Returns the descriptor.
    func open(_ path: String, flags: Int32, mode: mode_t) throws(FileIOError) -> Int32
    /// close(2).
    func close(_ fd: Int32)
    /// Writes all of `buffer` at `offset` (loops over short writes).
    func pwrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, offset: UInt64, path: String) throws(FileIOError)
    /// Reads up to `buffer.count` bytes at `offset`; returns the number read (0 at end of file).
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: UInt64, path: String) throws(FileIOError) -> Int
    /// fdatasync(2).
    func fdatasync(_ fd: Int32, path: String) throws(FileIOError)
    /// ftruncate(2).
    func ftruncate(_ fd: Int32, size: UInt64, path: String) throws(FileIOError)
    /// rename(2).
    func rename(_ from: String, _ to: String) throws(FileIOError)
    /// unlink(2).
    func unlink(_ path: String) throws(FileIOError)
    /// Opens `path` as a directory and fsyncs it, making creations/renames/unlinks in it durable.
    func fsyncDirectory(_ path: String) throws(FileIOError)
    /// mkdir -p.
    func makeDirectory(_ path: String) throws(FileIOError)
    /// Names of the entries in a directory (without "." and "..").
    func listDirectory(_ path: String) throws(FileIOError) -> [String]
    /// Size of an open file.
    func fileSize(_ fd: Int32, path: String) throws(FileIOError) -> UInt64
    /// Modification time of a path in seconds since 1970, or nil if it does not exist.
    func modificationTime(_ path: String) -> Double?
}

/// The real POSIX implementation.
public struct PosixFileIO: FileIO {
    /// Creates the default implementation.
    public init() {}

    public func open(_ path: String, flags: Int32, mode: mode_t) throws(FileIOError) -> Int32 {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        if fd < 0 { throw FileIOError(operation: "open", path: path, errno: errno) }
        return fd
    }

    public func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public func pwrite(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, offset: UInt64, path: String) throws(FileIOError) {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pwrite(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(operation: "pwrite", path: path, errno: errno)
            }
            if n == 0 { throw FileIOError(operation: "pwrite", path: path, errno: EIO) }
            done += n
        }
    }

    public func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: UInt64, path: String) throws(FileIOError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = Glibc.pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw FileIOError(operation: "pread", path: path, errno: errno)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    public func fdatasync(_ fd: Int32, path: String) throws(FileIOError) {
        if Glibc.fdatasync(fd) != 0 { throw FileIOError(operation: "fdatasync", path: path, errno: errno) }
    }

    public func ftruncate(_ fd: Int32, size: UInt64, path: String) throws(FileIOError) {
        if Glibc.ftruncate(fd, off_t(size)) != 0 { throw FileIOError(operation: "ftruncate", path: path, errno: errno) }
    }

    public func rename(_ from: String, _ to: String) throws(FileIOError) {
        if Glibc.rename(from, to) != 0 { throw FileIOError(operation: "rename", path: from + " -> " + to, errno: errno) }
    }

    public func unlink(_ path: String) throws(FileIOError) {
        if Glibc.unlink(path) != 0 { throw FileIOError(operation: "unlink", path: path, errno: errno) }
    }

    public func fsyncDirectory(_ path: String) throws(FileIOError) {
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileIOError(operation: "open(dir)", path: path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        if Glibc.fsync(fd) != 0 { throw FileIOError(operation: "fsync(dir)", path: path, errno: errno) }
    }

    public func makeDirectory(_ path: String) throws(FileIOError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if Glibc.mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw FileIOError(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }

    public func listDirectory(_ path: String) throws(FileIOError) -> [String] {
        guard let dir = opendir(path) else { throw FileIOError(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let ent = readdir(dir) {
            let name = withUnsafePointer(to: ent.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    public func fileSize(_ fd: Int32, path: String) throws(FileIOError) -> UInt64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw FileIOError(operation: "fstat", path: path, errno: errno) }
        return UInt64(st.st_size)
    }

    public func modificationTime(_ path: String) -> Double? {
        var st = stat()
        if stat(path, &st) != 0 { return nil }
        return Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
    }
}
