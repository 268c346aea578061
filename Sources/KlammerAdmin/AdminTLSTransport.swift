import Foundation
import KlammerCrypto
import KlammerTLS
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// How `klammerctl --admin-url https://HOST:PORT` reaches the admin API over mutual TLS: the admin certificate and
/// key, the CA the broker's certificate must chain to, and where to connect.
public struct AdminTLSTransport: Sendable {
    public var host: String
    public var port: Int
    /// TLS client context with the admin certificate, ALPN `http/1.1`.
    let context: TLSContext

    /// - Parameters:
    ///   - url: `https://host:port` (a path is ignored).
    ///   - certificateFile, keyFile: the admin certificate (PEM, leaf first) and its private key.
    ///   - caFile: the CA bundle the broker's certificate must chain to.
    public init(url: String, certificateFile: String, keyFile: String, caFile: String) throws {
        guard let components = URLComponents(string: url), components.scheme == "https", let host = components.host,
              !host.isEmpty else {
            throw AdminError(.invalidSetup, "'\(url)' is not an admin URL; write https://HOST:PORT (the address of admin.tls.listen)")
        }
        guard let port = components.port, (1...65535).contains(port) else {
            throw AdminError(.invalidSetup, "'\(url)' names no port; write https://HOST:PORT (the port of admin.tls.listen)")
        }
        let chain: [Certificate]
        let key: PrivateKey
        let anchors: [Certificate]
        do {
            chain = try Certificate.loadAll(fromPEMFile: certificateFile)
            key = try PrivateKey.load(fromFile: keyFile)
            anchors = try Certificate.loadAll(fromPEMFile: caFile)
        } catch {
            throw AdminError(.invalidSetup, "cannot read the admin TLS material (--admin-cert, --admin-key, --admin-ca): \(error)")
        }
        guard !chain.isEmpty, !anchors.isEmpty else {
            throw AdminError(.invalidSetup, "--admin-cert and --admin-ca must each hold at least one PEM certificate")
        }
        // No CRL needed on the client side: the broker's certificate is checked against the CA only, as curl does.
        var configuration = TLSConfiguration.client(
            certificateChain: chain, privateKey: key, trustStore: TrustStore(anchors: anchors, crls: [], requireCRL: false))
        configuration.applicationProtocols = [AdminTLSServer.applicationProtocol]
        do {
            self.context = try TLSContext(configuration: configuration)
        } catch {
            throw AdminError(.invalidSetup, "the admin TLS material is not usable: \(error)")
        }
        self.host = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        self.port = port
    }

    /// Sends `request` (a complete HTTP/1.1 request with `Connection: close`) and returns everything the server
    /// sent until it closed, at most `limit` bytes, within `timeoutSeconds`. Blocks; not for event loops or tasks.
    func exchange(_ request: [UInt8], limit: Int, timeoutSeconds: Int) throws -> [UInt8] {
        let context = self.context, host = self.host, port = self.port
        return try waitBlocking {
            let collected = ResponseCollector.Box(limit: limit)
            let logger = Logger(label: "klammerctl.admin-tls", factory: { _ in SwiftLogNoOpLogHandler() })
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .connectTimeout(.seconds(Int64(timeoutSeconds)))
                    .channelInitializer { channel in
                        configureTLSClientPipeline(channel: channel, context: context, logger: logger).flatMapThrowing {
                            try channel.pipeline.syncOperations.addHandler(ResponseCollector(box: collected))
                        }
                    }
                    .connect(host: host, port: port).get()
            } catch {
                throw AdminError(.unreachable, "cannot connect to the admin API at \(host):\(port): \(error). Is admin.tls.listen set and klammerd running?")
            }
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(Int64(timeoutSeconds))) {
                collected.fail(AdminError(.timeout, "klammerd did not answer within \(timeoutSeconds) s at \(host):\(port)"))
                channel.close(promise: nil)
            }
            defer { timeout.cancel() }
            channel.writeAndFlush(channel.allocator.buffer(bytes: request), promise: nil)
            try await channel.closeFuture.get()
            return try collected.result()
        }
    }
}

/// Collects the plaintext answer of one admin request until the server closes the connection.
final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    /// The bytes and the first failure, shared with the waiting caller.
    final class Box: Sendable {
        private let state = Mutex<(bytes: [UInt8], failure: (any Error)?)>(([], nil))
        let limit: Int
        init(limit: Int) { self.limit = limit }

        func append(_ bytes: ByteBuffer) -> Bool {
            state.withLock { s in
                s.bytes += bytes.readableBytesView
                if s.bytes.count > limit, s.failure == nil {
                    s.failure = AdminError(.badResponse, "the admin API's answer is larger than \(limit) bytes")
                }
                return s.failure == nil
            }
        }

        func fail(_ error: any Error) { state.withLock { s in if s.failure == nil { s.failure = error } } }

        func result() throws -> [UInt8] {
            try state.withLock { s in
                if let failure = s.failure { throw failure }
                return s.bytes
            }
        }
    }

    private let box: Box
    init(box: Box) { self.box = box }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !box.append(unwrapInboundIn(data)) { context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        box.fail(AdminError(.unreachable, "the admin TLS connection failed: \(error). Is the certificate listed in admin.tls.client_fingerprints, and does the broker's certificate chain to --admin-ca?"))
        context.close(promise: nil)
    }
}
