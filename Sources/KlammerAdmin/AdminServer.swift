import Foundation
public import Logging
public import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
public import ServiceLifecycle
#if canImport(Glibc)
    import Glibc
#endif

/// The admin API as a long-lived service: HTTP/1.1 + JSON on a Unix domain socket (mode 0600) that only the
/// daemon's own uid may use (checked per connection with `SO_PEERCRED`, not just by file permissions, which root
/// bypasses). Removes its socket file when it stops.
public final class AdminServer: Service {
    /// Default: most admin connections served at once; more are closed at once (klammerctl uses one per call).
    public static let defaultMaximumConnections = 32
    /// Default: a connection that has not sent a complete request within this time is closed.
    public static let defaultRequestTimeout = TimeAmount.seconds(30)

    private let maximumConnections: Int
    private let requestTimeout: TimeAmount
    private let socketPath: String
    private let service: AdminService
    private let logger: Logger
    private let group: any EventLoopGroup
    private let threadPool: NIOThreadPool
    private let onListening: @Sendable (String) -> Void

    /// - Parameter onListening: called with the socket path once it accepts connections.
    public init(
        socketPath: String, service: AdminService, logger: Logger,
        maximumConnections: Int = AdminServer.defaultMaximumConnections,
        requestTimeout: TimeAmount = AdminServer.defaultRequestTimeout,
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.maximumConnections = max(1, maximumConnections)
        self.requestTimeout = requestTimeout
        self.socketPath = socketPath
        self.service = service
        self.logger = logger
        self.group = MultiThreadedEventLoopGroup.singleton
        self.threadPool = NIOThreadPool.singleton
        self.onListening = onListening
    }

    public func run() async throws {
        try Self.removeStaleSocket(socketPath)
        let service = self.service
        let logger = self.logger
        let threadPool = self.threadPool
        let expectedUID = UInt32(getuid())
        let connections = ConnectionCounter(limit: maximumConnections)
        let maximumConnections = self.maximumConnections
        let requestTimeout = self.requestTimeout
        // One event loop for the listener and all admin connections: accepts are then counted against the limit in
        // arrival order (with several loops, a later connection's initializer could run before an earlier one's).
        let bootstrap = ServerBootstrap(group: group.next())
            .serverChannelOption(.backlog, value: 64)
            .childChannelInitializer { channel in
                guard connections.enter() else {
                    logger.warning(
                        "admin connection refused: too many open admin connections", metadata: ["limit": "\(maximumConnections)"])
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.leave() }
                return Self.peerCredentials(of: channel).flatMap { peer in
                    if peer?.uid != expectedUID {
                        logger.warning(
                            "admin connection refused: peer is not the daemon's user",
                            metadata: ["peer": "\(peer?.description ?? "unknown")"])
                    }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(
                            AdminHTTPHandler(
                                service: service, caller: .unixPeer(peer, expectedUID: expectedUID), threadPool: threadPool,
                                requestTimeout: requestTimeout))
                    }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(unixDomainSocketPath: socketPath).get()
        } catch {
            throw AdminError(
                .listenFailed, "cannot listen on the admin socket \(socketPath): \(error). Check that its directory exists and is writable."
            )
        }
        // The data directory is 0700 already; 0600 on the socket keeps it private even if the directory is not.
        guard chmod(socketPath, 0o600) == 0 else {
            channel.close(promise: nil)
            throw AdminError(.listenFailed, "cannot set mode 0600 on the admin socket \(socketPath): \(String(cString: strerror(errno)))")
        }
        logger.info("admin API listening", metadata: ["socket": "\(socketPath)"])
        onListening(socketPath)
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            channel.close(promise: nil)
        }
        unlink(socketPath)
    }

    /// The kernel's view of who connected.
    static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let raw: EventLoopFuture<PeerCredentials.RawUcred> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(PeerCredentials.optionName))
        return raw.map { Optional(PeerCredentials(pid: $0.pid, uid: $0.uid, gid: $0.gid)) }.recover { _ in nil }
    }

    /// A socket file left by a daemon that died is removed; one that still answers belongs to a running daemon.
    static func removeStaleSocket(_ path: String) throws {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw AdminError(
                .listenFailed, "\(path) exists and is not a socket; refusing to replace it. Remove it or choose another admin.socket.")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw AdminError(.listenFailed, "the admin socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected == 0 {
            throw AdminError(.listenFailed, "another klammerd is already serving the admin socket \(path); stop it first")
        }
        unlink(path)
    }
}

/// Counts open admin connections against a limit.
final class ConnectionCounter: Sendable {
    private let limit: Int
    private let count = Mutex(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot; false if all are in use.
    func enter() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { count.withLock { $0 -= 1 } }
}
