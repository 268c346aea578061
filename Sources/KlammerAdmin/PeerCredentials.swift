#if canImport(Glibc)
    import Glibc
#endif

/// The process at the other end of a Unix socket, as the kernel reports it (`SO_PEERCRED`): it cannot be forged
/// by the client, unlike anything it sends.
public struct PeerCredentials: Sendable, Equatable, CustomStringConvertible {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }

    /// The audit log's actor form.
    public var description: String { "uid:\(uid) pid:\(pid)" }

    /// Linux `struct ucred` (pid_t, uid_t, gid_t), which the Swift Glibc module does not import.
    struct RawUcred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    /// `getsockopt(SOL_SOCKET, SO_PEERCRED)` on a connected Unix socket.
    static let optionName = SO_PEERCRED
}
