import Foundation
import KlammerTLS
import NIOCore
import Synchronization

/// Counts plaintext bytes received by the server side.
final class ByteCounter: Sendable {
    let bytes = Atomic<Int>(0)
    let handshakes = Atomic<Int>(0)
}

final class CountingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let counter: ByteCounter
    init(_ counter: ByteCounter) { self.counter = counter }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        counter.bytes.add(unwrapInboundIn(data).readableBytes, ordering: .relaxed)
    }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized? = event as? TLSEvent { counter.handshakes.add(1, ordering: .relaxed) }
        context.fireUserInboundEventTriggered(event)
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Client side of the bulk test: after authorization, writes 64 KiB chunks whenever the channel is writable until the deadline.
final class BulkWriter: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let chunk: ByteBuffer
    let deadline: NIODeadline
    let done: EventLoopPromise<Void>
    private var authorized = false

    init(chunkSize: Int, deadline: NIODeadline, done: EventLoopPromise<Void>) {
        self.chunk = ByteBuffer(repeating: 0x42, count: chunkSize)
        self.deadline = deadline
        self.done = done
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized? = event as? TLSEvent {
            authorized = true
            pump(context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if authorized { pump(context: context) }
        context.fireChannelWritabilityChanged()
    }

    private func pump(context: ChannelHandlerContext) {
        while context.channel.isWritable {
            if NIODeadline.now() >= deadline {
                done.succeed()
                return
            }
            context.writeAndFlush(wrapOutboundOut(chunk), promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
}

/// Client side of the handshake test: completes a promise once authorized, then closes.
final class HandshakeOnce: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<Void>
    init(done: EventLoopPromise<Void>) { self.done = done }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized? = event as? TLSEvent {
            done.succeed()
            context.close(promise: nil)
        }
    }
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        done.fail(error)
        context.close(promise: nil)
    }
    func channelInactive(context: ChannelHandlerContext) {
        done.fail(BenchError("closed before the handshake completed"))
    }
}
