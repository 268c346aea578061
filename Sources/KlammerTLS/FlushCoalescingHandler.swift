public import NIOCore

/// Turns the flushes of one event-loop tick into one: a flush is deferred to a task queued behind the work already
/// waiting on the loop, and further flushes until it runs are dropped — unless `maxPendingBytes` were written since
/// the last flush, which flushes at once (the TLS handler below buffers unflushed plaintext, and the channel's
/// writability, which paces the writers, does not see that buffer).
///
/// Put it between the TLS handler and the frame codec. Every flush below it encrypts a TLS record and makes a
/// `write` syscall; without it, a connection with many requests in flight (pipelined sends, group-committed
/// receipts arriving in bursts) paid one record and one syscall per frame (perf, `klammer bench` W1). A close
/// flushes what is pending first, so a last ERROR or GOAWAY is not lost.
public final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Unflushed bytes that force an immediate flush (a few TLS records' worth).
    public static let maxPendingBytes = 64 * 1024

    private var scheduled = false
    private var pendingBytes = 0

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        pendingBytes += unwrapOutboundIn(data).readableBytes
        context.write(data, promise: promise)
    }

    public func flush(context: ChannelHandlerContext) {
        if pendingBytes >= Self.maxPendingBytes {
            flushNow(context)
            return
        }
        guard !scheduled else { return }
        scheduled = true
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            guard handler.scheduled else { return }
            handler.flushNow(context)
        }
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if scheduled || pendingBytes > 0 { flushNow(context) }
        context.close(mode: mode, promise: promise)
    }

    private func flushNow(_ context: ChannelHandlerContext) {
        scheduled = false
        pendingBytes = 0
        context.flush()
    }
}
