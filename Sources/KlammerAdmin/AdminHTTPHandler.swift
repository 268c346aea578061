import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves one admin API connection: one request, one JSON answer, then close (`Connection: close`; klammerctl
/// and curl open a connection per call). The work runs on the blocking thread pool because it fsyncs.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: AdminService
    private let peer: PeerCredentials?
    private let expectedUID: UInt32
    private let threadPool: NIOThreadPool
    private var collector = AdminRequestCollector()
    /// Closes a connection that has not delivered a complete request in time (a peer that connects and sends
    /// nothing must not hold a slot for ever); cancelled once the request is complete.
    private var requestTimeout: Scheduled<Void>?

    private let timeoutAmount: TimeAmount

    init(service: AdminService, peer: PeerCredentials?, expectedUID: UInt32, threadPool: NIOThreadPool, requestTimeout: TimeAmount) {
        self.timeoutAmount = requestTimeout
        self.service = service
        self.peer = peer
        self.expectedUID = expectedUID
        self.threadPool = threadPool
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        requestTimeout = context.eventLoop.scheduleTask(in: timeoutAmount) { channel.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        requestTimeout?.cancel()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch collector.receive(unwrapInboundIn(data)) {
        case .none:
            break
        case .reject(let status, let code, let message):
            requestTimeout?.cancel()
            respond(context: context, AdminService.error(status, code, message))
        case .dispatch(let method, let uri, let body):
            requestTimeout?.cancel()
            let service = self.service
            let peer = self.peer
            let expectedUID = self.expectedUID
            let work: @Sendable () -> AdminService.Response
            if let peer, peer.uid == expectedUID {
                work = { service.handle(method: method, uri: uri, body: body, peer: peer) }
            } else {
                work = { service.refuse(peer: peer, expectedUID: expectedUID) }
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            threadPool.runIfActive(eventLoop: context.eventLoop, work).whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success(let response):
                    handler.respond(context: context, response)
                case .failure(let error):
                    handler.respond(context: context, AdminService.error(503, "shutting-down", "the admin API is shutting down: \(error)"))
                }
            }
        }
    }

    private func respond(context: ChannelHandlerContext, _ response: AdminService.Response) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(response.body.count)")
        headers.add(name: "Connection", value: "close")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            channel.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
