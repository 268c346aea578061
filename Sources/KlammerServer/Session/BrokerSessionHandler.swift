public import KlammerBroker
public import KlammerProtocol
import KlammerStore
import KlammerTLS
public import Logging
public import NIOCore
import Synchronization

/// The thin channel handler of a broker connection: feeds TLS events, frames, timer ticks and lane results into
/// ``BrokerSessionStateMachine`` and performs the actions it returns. It sits after the frame codec
/// (``BrokerFrameDecoder`` / `KlammerFrameEncoder`); broker calls run in two per-connection tasks (the lanes), never
/// on the event loop. Reading pauses while the state machine says so (uploads waiting for the disk, request floods).
public final class BrokerSessionHandler: ChannelDuplexHandler {
    public typealias InboundIn = InboundFrame
    public typealias OutboundIn = Frame
    public typealias OutboundOut = Frame

    private let broker: Broker
    private let hub: SessionHub
    private let configuration: SessionConfiguration
    private let logger: Logger
    private var machine: BrokerSessionStateMachine
    private var context: ChannelHandlerContext?
    private var peer: PeerIdentity?
    private var readPending = false
    private var timer: RepeatedTask?
    private var hubToken: UInt64?
    private var requests: AsyncStream<RequestWork>.Continuation?
    private var deliveries: AsyncStream<DeliveryJob>.Continuation?
    /// The delivery lane and receipt tasks: cancelled on close. (The request lane is not: it finishes its queue.)
    private var tasks: [Task<Void, Never>] = []
    private var laneInputs: (participant: Participant, id: ParticipantID, output: SessionOutput)?
    private let consumer: ConsumerID

    private static let connectionCounter = Atomic<UInt64>(0)

    /// Creates the session handler of one accepted connection.
    public init(broker: Broker, hub: SessionHub, configuration: SessionConfiguration, logger: Logger) {
        self.broker = broker
        self.hub = hub
        self.configuration = configuration
        self.logger = logger
        self.machine = BrokerSessionStateMachine(configuration: configuration)
        let n = Self.connectionCounter.wrappingAdd(1, ordering: .relaxed).newValue
        self.consumer = ConsumerID("conn-\(n)")
    }

    /// Adds the frame codec and a session handler after the TLS handler (use as `TransportServer`'s
    /// `applicationInitializer`).
    public static func configure(
        channel: any Channel, broker: Broker, hub: SessionHub,
        configuration: SessionConfiguration, logger: Logger
    ) -> EventLoopFuture<Void> {
        channel.eventLoop.makeCompletedFuture {
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(FlushCoalescingHandler())  // one TLS record + write per tick, not per frame
            try sync.addHandler(ByteToMessageHandler(BrokerFrameDecoder(limits: configuration.limits)))
            try sync.addHandler(MessageToByteHandler(KlammerFrameEncoder()))
            try sync.addHandler(BrokerSessionHandler(broker: broker, hub: hub, configuration: configuration, logger: logger))
        }
    }

    private static func now() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    // MARK: Channel events

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        hubToken = hub.register(
            .init(
                participant: nil,
                wake: { loop.execute { bound.value.apply(bound.value.machine.wake(now: Self.now())) } },
                shutdown: { loop.execute { bound.value.apply(bound.value.machine.shutdown(now: Self.now())) } },
                participantChanged: { p in loop.execute { bound.value.apply(bound.value.machine.participantChanged(p)) } },
                certificateRevoked: { loop.execute { bound.value.apply(bound.value.machine.certificateRevoked()) } }))
        let periods = [
            configuration.heartbeatMillis / 4, configuration.helloTimeoutMillis / 4,
            configuration.pollIntervalMillis / 2, 250
        ].filter { $0 > 0 }
        let period = max(10, periods.min() ?? 250)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(period), delay: .milliseconds(period)) { _ in
            bound.value.apply(bound.value.machine.tick(now: Self.now()))
        }
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        tearDown()
        self.context = nil
    }

    public func channelInactive(context: ChannelHandlerContext) {
        tearDown()
        context.fireChannelInactive()
    }

    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .authorized(let peer) = event as? TLSEvent {
            self.peer = peer
            if let hubToken { hub.bind(hubToken, certificateFingerprint: peer.fingerprint.hex) }
            apply(
                machine.authorized(
                    applicationProtocol: peer.applicationProtocol, fingerprintHex: peer.fingerprint.hex,
                    registered: broker.registry.participant(forFingerprint: peer.fingerprint),
                    now: Self.now()))
        }
        context.fireUserInboundEventTriggered(event)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let inbound = unwrapInboundIn(data)
        var helloParticipant: Participant? = nil
        if case .frame(.hello) = inbound, let peer {
            helloParticipant = broker.registry.participant(forFingerprint: peer.fingerprint)
        }
        apply(machine.received(inbound, helloParticipant: helloParticipant, now: Self.now()))
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let error = error as? ProtocolError {
            logger.notice("closing connection after a protocol error", metadata: ["error": "\(error)"])
            apply(machine.decodingFailed(error))
        } else {
            // TLS failures are logged and answered by the TLS layer; nothing more to say on this connection.
            machine.closed()
            context.close(promise: nil)
        }
    }

    public func read(context: ChannelHandlerContext) {
        if mayRead(context) {
            context.read()
        } else {
            readPending = true
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        resumeReadingIfPossible(context)
        context.fireChannelWritabilityChanged()
    }

    /// Reading also waits while the channel is not writable: the peer must take our answers before it may send more
    /// requests, so answers written by the event loop (ACCEPTED, RECEIPT, PONG …) stay bounded too.
    private func mayRead(_ context: ChannelHandlerContext) -> Bool {
        machine.wantsToRead && context.channel.isWritable
    }

    private func resumeReadingIfPossible(_ context: ChannelHandlerContext) {
        if readPending, mayRead(context) {
            readPending = false
            context.read()
        }
    }

    // MARK: Lane results

    func handle(_ result: RequestResult) {
        apply(machine.requestResult(result, now: Self.now()))
    }

    func handle(_ result: DeliveryResult) {
        apply(machine.deliveryResult(result, now: Self.now()))
    }

    // MARK: Actions

    private func apply(_ actions: [BrokerSessionStateMachine.Action]) {
        guard let context else { return }
        var flush = false
        for action in actions {
            switch action {
            case .write(let frame):
                context.write(wrapOutboundOut(frame), promise: nil)
                flush = true
            case .fail(let error):
                logger.info("closing connection", metadata: ["code": "\(error.code)", "reason": "\(error.message)"])
                context.writeAndFlush(wrapOutboundOut(.error(error)), promise: nil)
                context.close(promise: nil)
                return
            case .close:
                if flush { context.flush() }
                context.close(promise: nil)
                return
            case .startLanes(let participant, let id, let clientMaxFrameSize):
                startLanes(context: context, participant: participant, id: id, clientMaxFrameSize: clientMaxFrameSize)
            case .request(let work):
                requests?.yield(work)
            case .deliver(let job):
                deliveries?.yield(job)
            case .startReceipts(let requestID):
                // The stream is registered here, on the event loop, so every receipt issued after SUBSCRIBE was
                // processed reaches it (a frame the client sends after SUBSCRIBE is answered after this point).
                guard let lane = laneInputs else { break }
                do {
                    let stream = try broker.receipts(for: lane.id)
                    tasks.append(Task { await SessionLanes.runReceipts(stream, requestID: requestID, output: lane.output) })
                } catch {
                    context.write(wrapOutboundOut(.error(.init(ProtocolError.from(error), requestID: requestID))), promise: nil)
                    flush = true
                }
            case .wake(let participants):
                hub.wake(participants.map(\.rawValue))
            case .report(let refusal):
                // A refused connection is logged at warning like the TLS layer's refusals (SPEC.md §1.12).
                BrokerMetrics.connectionRefused(refusal.code).increment()
                logger.warning(
                    "connection refused: \(refusal.code): \(refusal.reason)",
                    metadata: ["participant": "\(refusal.participant ?? "-")", "fingerprint": "\(refusal.fingerprint)"])
                hub.report(refusal)
            }
        }
        if flush { context.flush() }
        resumeReadingIfPossible(context)
    }

    private func startLanes(context: ChannelHandlerContext, participant: Participant, id: ParticipantID, clientMaxFrameSize: UInt32) {
        let output = SessionOutput(channel: context.channel, handler: NIOLoopBound(self, eventLoop: context.eventLoop))
        laneInputs = (participant, id, output)
        if let hubToken { hub.bind(hubToken, participant: id.rawValue) }
        let (requestStream, requestContinuation) = AsyncStream<RequestWork>.makeStream()
        let (deliveryStream, deliveryContinuation) = AsyncStream<DeliveryJob>.makeStream()
        requests = requestContinuation
        deliveries = deliveryContinuation
        let broker = self.broker
        let consumer = self.consumer
        let parking = hub.parking
        let quota = hub.uploadQuota
        let rate = hub.requestRate
        let visibility = Duration.seconds(configuration.leaseVisibilitySeconds)
        let hub = self.hub
        let refusals = RefusalReporter(
            fingerprint: peer?.fingerprint.hex ?? "", participant: id.rawValue,
            report: { hub.report($0) },
            budget: configuration.maxRefusalsPerSecond > 0 ? RefusalBudget(perSecond: configuration.maxRefusalsPerSecond) : nil,
            onExhausted: { output.post(.refusalBudgetExhausted(error: $0)) })
        Task {
            await SessionLanes.runRequests(
                broker: broker, participant: participant, id: id, consumer: consumer,
                parking: parking, quota: quota, rate: rate, work: requestStream, output: output,
                refusals: refusals)
        }
        tasks.append(
            Task {
                await SessionLanes.runDeliveries(
                    broker: broker, participant: participant, consumer: consumer,
                    clientMaxFrameSize: clientMaxFrameSize, visibility: visibility,
                    jobs: deliveryStream, output: output)
            })
    }

    private func tearDown() {
        machine.closed()
        timer?.cancel()
        timer = nil
        if let hubToken { hub.unregister(hubToken) }
        hubToken = nil
        // Ending the streams lets the lanes finish what they hold (an upload whose SEND_END arrived is still
        // confirmed durably); the delivery lane is cancelled (its writes fail anyway) and releases its leases.
        requests?.finish()
        deliveries?.finish()
        requests = nil
        deliveries = nil
        for task in tasks { task.cancel() }
        tasks = []
    }
}
