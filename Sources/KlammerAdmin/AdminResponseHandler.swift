import NIOCore
import NIOHTTP1

/// The client side of one admin API exchange, behind NIOHTTP1's request encoder and response decoder: sends the
/// request once the channel is active, collects the answer (bounded), and completes `promise` exactly once — with
/// the answer at its end, or with an ``AdminError`` on a close without an answer, a larger answer than allowed,
/// a connection error or the timeout. Closes the channel when done. Runs on the channel's event loop only.
final class AdminResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = Never
    typealias OutboundOut = HTTPClientRequestPart

    private let head: HTTPRequestHead
    private let body: [UInt8]?
    private let limit: Int
    private let timeout: TimeAmount
    /// Says where the answer was expected from (`the admin socket /path`, `the admin API at host:port`).
    private let peer: String
    /// What a close without an answer means on this transport.
    private let closedWithoutAnswer: String
    /// What a connection error means on this transport.
    private let connectionFailed: (any Error) -> String
    private let promise: EventLoopPromise<AdminClient.Reply>
    private var status: Int?
    private var received: [UInt8] = []
    private var completed = false
    private var timer: Scheduled<Void>?

    init(
        head: HTTPRequestHead, body: [UInt8]?, limit: Int, timeout: TimeAmount, peer: String,
        closedWithoutAnswer: String, connectionFailed: @escaping (any Error) -> String,
        promise: EventLoopPromise<AdminClient.Reply>
    ) {
        self.head = head
        self.body = body
        self.limit = limit
        self.timeout = timeout
        self.peer = peer
        self.closedWithoutAnswer = closedWithoutAnswer
        self.connectionFailed = connectionFailed
        self.promise = promise
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let seconds = timeout.nanoseconds / 1_000_000_000
        timer = context.eventLoop.scheduleTask(in: timeout) {
            let (handler, context) = bound.value
            handler.finish(
                context: context, .failure(AdminError(.timeout, "klammerd did not answer within \(seconds) s on \(handler.peer)")))
        }
        if context.channel.isActive { sendRequest(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
    }

    func channelActive(context: ChannelHandlerContext) {
        sendRequest(context: context)
        context.fireChannelActive()
    }

    private var sent = false

    private func sendRequest(context: ChannelHandlerContext) {
        guard !sent else { return }
        sent = true
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if let body { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !completed else { return }
        switch unwrapInboundIn(data) {
        case .head(let response):
            status = Int(response.status.code)
        case .body(let buffer):
            guard received.count + buffer.readableBytes <= limit else {
                finish(context: context, .failure(AdminError(.badResponse, "the admin API's answer is larger than \(limit) bytes")))
                return
            }
            received += buffer.readableBytesView
        case .end:
            finish(context: context, .success(AdminClient.Reply(status: status ?? 0, body: received)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context, .failure(AdminError(.unreachable, closedWithoutAnswer)))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: AdminError
        if error is HTTPParserError {
            failure = AdminError(.badResponse, "\(peer) answered something that is not HTTP: \(error)")
        } else if let error = error as? AdminError {
            failure = error
        } else {
            failure = AdminError(.unreachable, connectionFailed(error))
        }
        finish(context: context, .failure(failure))
    }

    private func finish(context: ChannelHandlerContext, _ result: Result<AdminClient.Reply, AdminError>) {
        guard !completed else { return }
        completed = true
        timer?.cancel()
        promise.completeWith(result.mapError { $0 as any Error })
        context.close(promise: nil)
    }
}
