import Foundation
import NIOCore
import NIOHTTP1
import Prometheus

/// Answers one request at a time on a metrics connection: `/metrics`, `/healthz`, else 404/405.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let beforeScrape: @Sendable () -> Void
    private let health: @Sendable () -> HealthReport
    private var head: HTTPRequestHead?

    init(
        registry: PrometheusCollectorRegistry, beforeScrape: @escaping @Sendable () -> Void,
        health: @escaping @Sendable () -> HealthReport
    ) {
        self.registry = registry
        self.beforeScrape = beforeScrape
        self.health = health
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break  // ignored: no endpoint takes a body
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let contentType: String
        let body: [UInt8]
        switch (head.method, path) {
        case (.GET, "/metrics"), (.HEAD, "/metrics"):
            beforeScrape()
            status = .ok
            contentType = "text/plain; version=0.0.4; charset=utf-8"
            body = registry.emitToBuffer()
        case (.GET, "/healthz"), (.HEAD, "/healthz"):
            let report = health()
            status = report.isHealthy ? .ok : .serviceUnavailable
            contentType = "application/json"
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            body = Array((try? encoder.encode(report)) ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
        case (_, "/metrics"), (_, "/healthz"):
            status = .methodNotAllowed
            contentType = "text/plain; charset=utf-8"
            body = Array("use GET\n".utf8)
        default:
            status = .notFound
            contentType = "text/plain; charset=utf-8"
            body = Array("no such endpoint; try /metrics or /healthz\n".utf8)
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
