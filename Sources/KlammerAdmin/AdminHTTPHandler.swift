import Foundation
import KlammerTLS
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves one admin API connection: one request, one JSON answer, then close (`Connection: close`; klammerctl
/// and curl open a connection per call). The work runs on the blocking thread pool because it fsyncs.
final class AdminHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let service: AdminService
    private var caller: AdminCaller
    private let threadPool: NIOThreadPool
    private var collector = AdminRequestCollector()
    /// Closes a connection that has not delivered a complete request in time (a peer that connects and sends
    /// nothing must not hold a slot for ever); cancelled once the request is complete.
    private var requestTimeout: Scheduled<Void>?

    private let timeoutAmount: TimeAmount

    init(service: AdminService, caller: AdminCaller, threadPool: NIOThreadPool, requestTimeout: TimeAmount) {
        self.timeoutAmount = requestTimeout
        self.service = service
        self.caller = caller
        self.threadPool = threadPool
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // Over mutual TLS the identity is known once the authorizer admitted the certificate.
        if case .certificate = caller, let event = event as? TLSEvent, case .authorized(let identity) = event {
            caller = .certificate(identity)
        }
        context.fireUserInboundEventTriggered(event)
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
        case .reject(let error):
            requestTimeout?.cancel()
            respond(context: context, AdminService.error(error))
        case .dispatch(let method, let uri, let body):
            requestTimeout?.cancel()
            let service = self.service
            let work: @Sendable () -> AdminService.Response
            switch caller {
            case .unixPeer(let peer?, let expectedUID) where peer.uid == expectedUID:
                work = { service.handle(method: method, uri: uri, body: body, peer: peer) }
            case .unixPeer(let peer, let expectedUID):
                work = { service.refuse(peer: peer, expectedUID: expectedUID) }
            case .certificate(let identity?):
                let actor = AdminCaller.actor(identity)
                work = { service.handle(method: method, uri: uri, body: body, actor: actor) }
            case .certificate(nil):
                // Cannot happen (no plaintext flows before authorization); refuse rather than serve anonymously.
                respond(context: context, AdminService.error(AdminError(.forbidden, "the admin certificate was not authorized")))
                return
            }
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            threadPool.runIfActive(eventLoop: context.eventLoop, work).whenComplete { result in
                let (handler, context) = bound.value
                switch result {
                case .success(let response):
                    handler.respond(context: context, response)
                case .failure(let error):
                    handler.respond(
                        context: context, AdminService.error(AdminError(.shuttingDown, "the admin API is shutting down: \(error)")))
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
