public import Foundation
import KlammerTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
#if canImport(Glibc)
    import Glibc
#endif

/// The client of the admin API (what `klammerctl` uses): one HTTP/1.1 connection per call (`Connection: close`)
/// over the Unix socket or mutual TLS, NIOHTTP1 on both, the answer bounded in size and time, so a stuck daemon
/// cannot hang the CLI. Calls are typed by ``AdminRoute``, which renders method and path.
public struct AdminClient: Sendable {
    /// An HTTP answer.
    public struct Reply: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    /// Largest answer read (an audit tail of 1000 entries fits comfortably).
    public static let maximumReplyBytes = 64 << 20

    public let socketPath: String
    /// Seconds to wait for the daemon's answer.
    public let timeoutSeconds: Int
    /// Set: the calls go over mutual TLS to `admin.tls.listen` instead of the Unix socket.
    public let tls: AdminTLSTransport?

    public init(socketPath: String, timeoutSeconds: Int = 60) {
        self.socketPath = socketPath
        self.timeoutSeconds = timeoutSeconds
        self.tls = nil
    }

    /// A client for the admin API over mutual TLS (SPEC.md §11.1).
    public init(tls: AdminTLSTransport, timeoutSeconds: Int = 60) {
        self.socketPath = "https://\(tls.host):\(tls.port)"
        self.timeoutSeconds = timeoutSeconds
        self.tls = tls
    }

    // MARK: Typed calls

    /// Sends `route` (with a JSON `body`) and decodes a 2xx answer as `T`; any other answer throws its ``AdminError``.
    public func call<T: Decodable>(_ route: AdminRoute, body: (some Encodable)? = Optional<String>.none, as type: T.Type) async throws -> T
    {
        let encoded = try body.map { Array(try AdminJSON.encoder().encode($0)) }
        return try Self.decode(try await send(route, body: encoded), as: type)
    }

    /// Sends `route` and returns the answer whatever its status (for calls whose non-2xx answers carry a report,
    /// like 409 from `audit verify` and `store scrub`).
    public func send(_ route: AdminRoute, body: [UInt8]? = nil) async throws -> Reply {
        try await exchange(method: route.method, path: route.path, body: body).get()
    }

    // MARK: Untyped calls for synchronous callers

    /// Sends one request and waits for the answer, blocking the calling thread (never call it on an event loop).
    public func send(_ method: String, _ path: String, body: [UInt8]? = nil) throws -> Reply {
        try exchange(method: method, path: path, body: body).wait()
    }

    /// Sends a request, blocking, and decodes a 2xx answer as `T`; a non-2xx answer throws its ``AdminError``.
    public func call<T: Decodable>(_ method: String, _ path: String, body: (some Encodable)? = Optional<String>.none, as type: T.Type)
        throws -> T
    {
        let encoded = try body.map { Array(try AdminJSON.encoder().encode($0)) }
        return try Self.decode(try send(method, path, body: encoded), as: type)
    }

    // MARK: Exchange

    static func decode<T: Decodable>(_ reply: Reply, as type: T.Type) throws -> T {
        guard (200..<300).contains(reply.status) else {
            if let error = AdminError.decode(status: reply.status, body: reply.body) { throw error }
            throw AdminError(
                .badResponse, "the admin API answered HTTP \(reply.status): \(String(decoding: reply.body.prefix(500), as: UTF8.self))")
        }
        do {
            return try AdminJSON.decoder().decode(type, from: Data(reply.body))
        } catch {
            throw AdminError(.badResponse, "the admin API's answer is not the expected \(T.self): \(error)")
        }
    }

    /// Connects (Unix socket or TLS), sends the request and completes with the answer or an ``AdminError``.
    func exchange(method: String, path: String, body: [UInt8]?) -> EventLoopFuture<Reply> {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var headers = HTTPHeaders([("Host", "klammerd"), ("Connection", "close"), ("Accept", "application/json")])
        if let body {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(body.count)")
        }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method), uri: path, headers: headers)
        let promise = loop.makePromise(of: Reply.self)
        let timeout = TimeAmount.seconds(Int64(timeoutSeconds))
        let tls = self.tls
        let peer = tls.map { "the admin API at \($0.host):\($0.port)" } ?? "the admin socket \(socketPath)"
        let closed =
            tls == nil
            ? "klammerd closed the admin connection on \(socketPath) without an answer"
            : "klammerd closed the admin TLS connection without an answer: the certificate is not admitted (it must chain to the broker's CA and be listed in admin.tls.client_fingerprints)"
        let failed: @Sendable (any Error) -> String = { [socketPath] error in
            tls == nil
                ? "cannot read the answer from \(socketPath): \(Self.reason(error))"
                : "the admin TLS connection failed: \(error). Is the certificate listed in admin.tls.client_fingerprints, and does the broker's certificate chain to --admin-ca?"
        }
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                let http: @Sendable () -> EventLoopFuture<Void> = {
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(
                            AdminResponseHandler(
                                head: head, body: body, limit: Self.maximumReplyBytes, timeout: timeout, peer: peer,
                                closedWithoutAnswer: closed, connectionFailed: failed, promise: promise))
                    }
                }
                guard let tls else { return http() }
                let logger = Logger(label: "klammerctl.admin-tls", factory: { _ in SwiftLogNoOpLogHandler() })
                return configureTLSClientPipeline(channel: channel, context: tls.context, logger: logger).flatMap(http)
            }
        let connected: EventLoopFuture<any Channel>
        if let tls {
            connected = bootstrap.connect(host: tls.host, port: tls.port)
        } else {
            guard socketPath.utf8.count < 108 else {
                return loop.makeFailedFuture(
                    AdminError(.invalidSetup, "the admin socket path \(socketPath) is longer than a Unix socket path may be (107 bytes)"))
            }
            connected = bootstrap.connect(unixDomainSocketPath: socketPath)
        }
        let socketPath = self.socketPath
        connected.whenFailure { error in
            let message =
                tls.map {
                    "cannot connect to the admin API at \($0.host):\($0.port): \(error). Is admin.tls.listen set and klammerd running?"
                }
                ?? "cannot connect to the admin socket \(socketPath): \(Self.reason(error)). Is klammerd running, and are you the user it runs as? klammerd prints the socket path at start ('admin …')."
            promise.fail(AdminError(.unreachable, message))
        }
        return promise.futureResult
    }

    /// The system's words for a failed connect (`No such file or directory`), as the blocking client printed them.
    private static func reason(_ error: any Error) -> String {
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return reason(first.error)
        }
        return "\(error)"
    }
}
