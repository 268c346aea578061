public import Logging
public import NIOCore
import KlammerCrypto

/// A SwiftNIO channel handler that runs TLS through the system OpenSSL 3 (memory BIOs), for servers and clients.
///
/// Place it first in the pipeline (closest to the socket). It
/// - runs the handshake as soon as the channel is active, with a timeout (``TLSConfiguration/handshakeTimeout``)
///   that also covers the authorizer's decision;
/// - after the handshake, fires ``TLSEvent/handshakeCompleted(_:)``, asks the ``PeerAuthorizer`` with the peer's
///   ``PeerIdentity`` and holds decrypted inbound bytes (bounded) until it accepts; then fires
///   ``TLSEvent/authorized(_:)`` and passes plaintext on;
/// - buffers local writes made before that point (bounded by ``TLSConfiguration/maxBufferedOutboundBytes``);
/// - encrypts flushed writes only while the channel is writable and holds the rest (the downstream handler
///   sees `channelWritabilityChanged(true)` only once that backlog is on its way), so memory stays bounded;
/// - sends close_notify when closed and answers the peer's close_notify;
/// - on any failure logs one line naming the reason, fires a ``TLSError`` through `errorCaught` and closes.
///
/// Not Sendable: like every channel handler it lives on its channel's event loop.
public final class OpenSSLHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private typealias PendingWrite = (buffer: ByteBuffer, promise: EventLoopPromise<Void>?)

    /// Largest plaintext slice handed to one `SSL_write` before checking writability again.
    static let writeSliceSize = 64 * 1024

    private let tlsContext: TLSContext
    private let authorizer: PeerAuthorizer
    private let logger: Logger
    /// Per-connection log metadata, attached at log time (cheaper than mutating the logger for every connection).
    private var logMetadata: Logger.Metadata
    private var connection: TLSConnection?
    private var machine = TLSStateMachine()
    private var handshakeInboundBytes = 0
    private var heldInbound = CircularBuffer<ByteBuffer>()
    /// Plaintext held back while the authorizer decides (readable for the tests: `private(set)`).
    private(set) var heldInboundBytes = 0
    private var unflushed = CircularBuffer<PendingWrite>()
    private var flushed = CircularBuffer<PendingWrite>()
    private var bufferedOutboundBytes = 0
    private var suppressedWritabilityChange = false
    private var timeoutTask: Scheduled<Void>?

    /// The peer's verified identity once the handshake completed (event-loop only).
    public private(set) var peerIdentity: PeerIdentity?

    /// True once the authorizer accepted the peer (event-loop only).
    public var isAuthorized: Bool { machine.state == .active }

    /// Plaintext bytes currently held for local writes (pre-handshake, or waiting for writability).
    public var bufferedOutboundByteCount: Int { bufferedOutboundBytes }

    /// Creates a handler. The role (server/client) comes from `context.configuration.role`.
    /// - Parameters:
    ///   - authorizer: decides about the peer after the handshake (default: accept every verified peer).
    ///   - logger: receives one line per refusal naming the reason, plus debug lines.
    public init(context: TLSContext, authorizer: PeerAuthorizer = .acceptAll, logger: Logger = Logger(label: "klammer.tls")) {
        self.tlsContext = context
        self.authorizer = authorizer
        self.logger = logger
        self.logMetadata = ["tls.role": "\(context.configuration.role)"]
    }

    private var configuration: TLSConfiguration { tlsContext.configuration }

    // MARK: Life cycle

    public func handlerAdded(context: ChannelHandlerContext) {
        do {
            connection = try TLSConnection(context: tlsContext)
        } catch {
            perform(machine.failed(error as? TLSError ?? TLSError(.internalError, "\(error)")), context: context)
            return
        }
        if context.channel.isActive { activate(context: context) }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimeout()
        failPendingWrites(TLSError(.connectionClosed, "the TLS handler was removed"))
        connection = nil
    }

    public func channelActive(context: ChannelHandlerContext) {
        activate(context: context)
        context.fireChannelActive()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        if machine.state == .active {
            // The peer closed TCP without close_notify: data may have been truncated. Framing above TLS must detect it.
            logger.info("TLS peer closed the connection without close_notify", metadata: logMetadata)
        }
        let action = machine.channelInactive()
        if case .fail(let error) = action {
            refuse(error, context: context, close: false)
        }
        cancelTimeout()
        failPendingWrites(TLSError(.connectionClosed, "the connection is closed"))
        context.fireChannelInactive()
    }

    private func activate(context: ChannelHandlerContext) {
        guard case .startHandshake = machine.activate() else { return }
        if let remote = context.remoteAddress { logMetadata["tls.peer"] = .stringConvertible(remote) }
        let timeout = configuration.handshakeTimeout
        timeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
            self.timeoutTask = nil
            self.perform(self.machine.timedOut(after: "\(timeout)"), context: context)
        }
        runHandshake(context: context)
    }

    // MARK: Inbound

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        guard let connection else { return }
        switch machine.state {
        case .closed:
            return  // after a failure: drop whatever else arrives
        case .idle:
            activate(context: context)
            fallthrough
        case .handshaking:
            handshakeInboundBytes += buffer.readableBytes
            guard handshakeInboundBytes <= configuration.maxHandshakeInboundBytes else {
                perform(
                    machine.failed(
                        TLSError(
                            .inboundBufferLimitExceeded,
                            "the peer sent more than \(configuration.maxHandshakeInboundBytes) bytes before the handshake completed")),
                    context: context)
                return
            }
            connection.feed(buffer)
            runHandshake(context: context)
            if machine.state == .authorizing || machine.state == .active {
                readLoop(context: context)
            }
        case .authorizing, .active, .closing:
            connection.feed(buffer)
            readLoop(context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flushCiphertext(context: context)
        context.fireChannelReadComplete()
    }

    private func runHandshake(context: ChannelHandlerContext) {
        guard let connection else { return }
        switch connection.doHandshake() {
        case .wantRead:
            flushCiphertext(context: context)
        case .complete:
            flushCiphertext(context: context)
            handshakeCompleted(context: context)
        case .failed(let error):
            perform(machine.failed(error), context: context)
        }
    }

    private func handshakeCompleted(context: ChannelHandlerContext) {
        guard let connection else { return }
        let identity: PeerIdentity
        do {
            identity = try connection.peerIdentity()
        } catch {
            perform(machine.failed(error as? TLSError ?? TLSError(.internalError, "\(error)")), context: context)
            return
        }
        if configuration.requireApplicationProtocol && identity.applicationProtocol == nil {
            perform(
                machine.failed(
                    TLSError(
                        .noApplicationProtocol,
                        "the peer negotiated no ALPN protocol; required one of: \(configuration.applicationProtocols.joined(separator: ", "))"
                    )), context: context)
            return
        }
        peerIdentity = identity
        logMetadata["tls.peer.fingerprint"] = .stringConvertible(identity.fingerprint)
        logger.debug(
            "TLS handshake completed",
            metadata: logMetadata.merging([
                "tls.version": "\(identity.protocolVersion)", "tls.cipher": "\(identity.cipherSuite)",
                "tls.alpn": "\(identity.applicationProtocol ?? "none")", "tls.resumed": "\(connection.sessionReused)"
            ]) { $1 })
        context.fireUserInboundEventTriggered(TLSEvent.handshakeCompleted(identity))
        guard case .startAuthorization = machine.handshakeCompleted() else { return }
        if let decision = authorizer.immediateDecision(for: identity) {
            perform(machine.authorizationDecided(decision), context: context)
            return
        }
        let authorizer = self.authorizer
        context.eventLoop.makeFutureWithTask { await authorizer.authorize(identity) }
            .assumeIsolated()
            .whenComplete { [self] result in
                let decision: AuthorizationDecision
                switch result {
                case .success(let answer): decision = answer
                case .failure(let error): decision = .reject(reason: "the authorizer failed: \(error)")
                }
                self.perform(self.machine.authorizationDecided(decision), context: context)
            }
    }

    /// Decrypts everything OpenSSL can from the read BIO.
    private func readLoop(context: ChannelHandlerContext) {
        while let connection {
            switch connection.read(allocator: context.channel.allocator) {
            case .data(let plaintext):
                switch machine.state {
                case .active:
                    context.fireChannelRead(wrapInboundOut(plaintext))
                case .authorizing:
                    heldInboundBytes += plaintext.readableBytes
                    guard heldInboundBytes <= configuration.maxUnauthorizedInboundBytes else {
                        perform(
                            machine.failed(
                                TLSError(
                                    .inboundBufferLimitExceeded,
                                    "the peer sent more than \(configuration.maxUnauthorizedInboundBytes) bytes before it was authorized")),
                            context: context)
                        return
                    }
                    heldInbound.append(plaintext)
                default:
                    continue  // closing/closed: discard
                }
            case .wantRead:
                flushCiphertext(context: context)
                return
            case .closeNotify:
                logger.debug("peer sent close_notify", metadata: logMetadata)
                perform(machine.closeNotifyReceived(), context: context)
                return
            case .failed(let error):
                perform(machine.failed(error), context: context)
                return
            }
        }
    }

    // MARK: Outbound

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let buffer = unwrapOutboundIn(data)
        switch machine.state {
        case .closing, .closed:
            promise?.fail(TLSError(.connectionClosed, "cannot write: the TLS connection is closed"))
            return
        default:
            break
        }
        guard bufferedOutboundBytes < configuration.maxBufferedOutboundBytes else {
            let error = TLSError(
                .outboundBufferLimitExceeded,
                "\(bufferedOutboundBytes) plaintext bytes are already buffered (limit \(configuration.maxBufferedOutboundBytes)) "
                    + (machine.state == .active
                        ? "because the channel is not writable; wait for channelWritabilityChanged"
                        : "before the handshake/authorization completed"))
            logger.warning("TLS write refused: \(error.code): \(error.message)", metadata: logMetadata)
            promise?.fail(error)
            return
        }
        bufferedOutboundBytes += buffer.readableBytes
        unflushed.append((buffer, promise))
    }

    public func flush(context: ChannelHandlerContext) {
        while let write = unflushed.popFirst() { flushed.append(write) }
        encryptAndSend(context: context, ignoringWritability: false)
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            encryptAndSend(context: context, ignoringWritability: false)
            if context.channel.isWritable && flushed.isEmpty {
                suppressedWritabilityChange = false
                context.fireChannelWritabilityChanged()
            } else {
                suppressedWritabilityChange = true
            }
        } else {
            suppressedWritabilityChange = false
            context.fireChannelWritabilityChanged()
        }
    }

    /// Encrypts flushed writes in slices while the channel is writable (or unconditionally when closing).
    private func encryptAndSend(context: ChannelHandlerContext, ignoringWritability: Bool) {
        guard machine.state == .active || (ignoringWritability && machine.state == .closing), let connection else { return }
        while var write = flushed.first, ignoringWritability || context.channel.isWritable {
            let slice = min(write.buffer.readableBytes, OpenSSLHandler.writeSliceSize)
            let allocator = context.channel.allocator
            let result = write.buffer.withUnsafeReadableBytes {
                connection.encrypt(UnsafeRawBufferPointer(rebasing: $0.prefix(slice)), allocator: allocator)
            }
            let ciphertext: ByteBuffer
            switch result {
            case .success(let bytes): ciphertext = bytes
            case .failure(let error):
                perform(machine.failed(error), context: context)
                return
            }
            write.buffer.moveReaderIndex(forwardBy: slice)
            bufferedOutboundBytes -= slice
            let done = write.buffer.readableBytes == 0
            if done { flushed.removeFirst() } else { flushed[flushed.startIndex] = write }
            if ciphertext.readableBytes > 0 {
                context.write(wrapOutboundOut(ciphertext), promise: done ? write.promise : nil)
            } else if done {
                write.promise?.succeed()
            }
            if !ignoringWritability { context.flush() }
        }
        if suppressedWritabilityChange && flushed.isEmpty && context.channel.isWritable {
            suppressedWritabilityChange = false
            context.fireChannelWritabilityChanged()
        }
    }

    private func flushCiphertext(context: ChannelHandlerContext) {
        guard let connection, let ciphertext = connection.drainOutbound(allocator: context.channel.allocator) else { return }
        context.writeAndFlush(wrapOutboundOut(ciphertext), promise: nil)
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch machine.closeRequested() {
        case .sendCloseNotifyAndClose:
            sendCloseNotifyAndClose(context: context, promise: promise)
        case .closeWithoutNotify:
            cancelTimeout()
            failPendingWrites(TLSError(.closedDuringHandshake, "the connection was closed before the TLS handshake finished"))
            context.close(mode: mode, promise: promise)
        default:
            context.close(mode: mode, promise: promise)
        }
    }

    // MARK: Actions

    private func perform(_ action: TLSStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none, .startHandshake, .startAuthorization:
            break
        case .becomeActive:
            cancelTimeout()
            guard let identity = peerIdentity else { return }
            logger.debug("TLS peer authorized", metadata: logMetadata)
            context.fireUserInboundEventTriggered(TLSEvent.authorized(identity))
            if !heldInbound.isEmpty {
                while let plaintext = heldInbound.popFirst(), machine.state == .active {
                    context.fireChannelRead(wrapInboundOut(plaintext))
                }
                heldInboundBytes = 0
                context.fireChannelReadComplete()
            }
            encryptAndSend(context: context, ignoringWritability: false)
        case .fail(let error):
            refuse(error, context: context, close: true)
        case .sendCloseNotifyAndClose:
            sendCloseNotifyAndClose(context: context, promise: nil)
        case .closeWithoutNotify:
            context.close(promise: nil)
        }
    }

    private func sendCloseNotifyAndClose(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        cancelTimeout()
        encryptAndSend(context: context, ignoringWritability: true)
        failPendingWrites(TLSError(.connectionClosed, "the TLS connection closed before this write was sent"))
        connection?.shutdown()
        flushCiphertext(context: context)
        context.close(promise: promise)
    }

    /// Logs the reason, fails pending writes, fires the error and (optionally) closes. Flushes any alert OpenSSL queued.
    private func refuse(_ error: TLSError, context: ChannelHandlerContext, close: Bool) {
        cancelTimeout()
        flushCiphertext(context: context)
        let what = peerIdentity == nil || error.code == .unauthorized ? "TLS connection refused" : "TLS connection failed"
        logger.warning(
            "\(what): \(error.code): \(error.message)",
            metadata: error.openSSLErrors.isEmpty
                ? logMetadata
                : logMetadata.merging(["openssl": "\(error.openSSLErrors.joined(separator: "; "))"]) { $1 })
        failPendingWrites(error)
        if error.code == .unauthorized {
            // The handshake succeeded, so end the TLS session cleanly: the peer sees close_notify, not a reset.
            connection?.shutdown()
            flushCiphertext(context: context)
        }
        heldInbound.removeAll()
        heldInboundBytes = 0
        context.fireErrorCaught(error)
        if close { context.close(promise: nil) }
    }

    private func failPendingWrites(_ error: TLSError) {
        while let write = flushed.popFirst() { write.promise?.fail(error) }
        while let write = unflushed.popFirst() { write.promise?.fail(error) }
        bufferedOutboundBytes = 0
    }

    private func cancelTimeout() {
        timeoutTask?.cancel()
        timeoutTask = nil
    }
}

@available(*, unavailable)
extension OpenSSLHandler: Sendable {}
