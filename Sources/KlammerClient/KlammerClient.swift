public import Foundation
public import KlammerCrypto
public import KlammerProtocol
import KlammerTLS
import Logging
import NIOCore
import NIOPosix

/// A connection of one participant to a Klammer broker (SPEC.md §4): mutual TLS with ALPN `klammer/1`, HELLO/WELCOME,
/// then concurrent requests — ``send(_:progress:)``, ``fetch(max:options:)``, ``subscribe(credits:receipts:options:)``,
/// ``acknowledge(_:)``, ``nack(_:retryAfterMillis:)``, ``status(_:)`` — and finally ``close()`` (GOAWAY).
///
/// ```swift
/// let client = try await KlammerClient.connect(profile: profile)
/// let prepared = try PreparedMessage.prepare(credentials: client.credentials, recipients: [try ParticipantID("ags:13003000")],
///                                            subject: "Anhörung", payload: .file("bescheid.pdf"))
/// let receipt = try await client.send(prepared)       // the broker's signed `accepted` receipt
/// await client.close()
/// ```
///
/// Always end with ``close()``: the connection belongs to a background task and stays open until closed (by either
/// side) even if the client value is no longer referenced.
///
/// Decisions about frames are made by ``ClientStateMachine``; this actor performs them (writes frames, resumes the
/// waiting callers, writes payload bytes). Inbound frames are processed one at a time in arrival order; the NIO
/// channel's back-pressure slows the broker when payloads are written more slowly than they arrive.
public actor KlammerClient {
    /// The credentials this connection authenticated and signs with.
    public nonisolated let credentials: ClientCredentials
    /// The broker's TLS certificate (it also signs receipts in the reference broker), once connected.
    public internal(set) var brokerCertificate: Certificate?
    /// Receive limits announced to the broker in HELLO.
    public nonisolated let limits: ProtocolLimits
    let logger: Logger
    let agent: String

    var machine = ClientStateMachine()
    var writer: FrameWriter?
    var closeError: KlammerClientError?
    var lastReceived = ContinuousClock.now
    var pingSentAt: ContinuousClock.Instant?
    var heartbeatTask: Task<Void, Never>?

    var welcomeWaiter: CheckedContinuation<Frame.Welcome, any Error>?
    var windowWaiters: [CheckedContinuation<Void, any Error>] = []
    var uploads: [UInt32: AsyncThrowingStream<UploadEvent, any Error>.Continuation] = [:]
    var fetches: [UInt32: FetchContext] = [:]
    var subscription: SubscriptionContext?
    var acknowledgements: [UInt32: CheckedContinuation<SignedReceipt, any Error>] = [:]
    var statuses: [UInt32: StatusContext] = [:]
    var directoryLookups: [UInt32: CheckedContinuation<Frame.DirectoryAnswer, any Error>] = [:]
    var drainWaiters: [CheckedContinuation<Void, Never>] = []
    var delivery: DeliveryInProgress?
    /// Signed `rejected` receipts of uploads whose ERROR has not arrived yet (at most one per upload in flight).
    var rejectedReceipts: [UInt32: SignedReceipt] = [:]
    /// The wall clock certificates of received messages are checked at (tests inject one, ``useClock(_:)``).
    var now: @Sendable () -> Date = { Date() }

    /// Replaces the wall clock used to verify received messages (SPEC.md §5.10), e.g. to check how an archived or late
    /// delivery verifies after the sender's certificate expired.
    public func useClock(_ clock: @escaping @Sendable () -> Date) { now = clock }

    /// Events of one upload.
    enum UploadEvent: Sendable {
        case ready(UInt64)
        case accepted(SignedReceipt)
    }

    /// A FETCH in flight.
    struct FetchContext {
        var continuation: AsyncThrowingStream<FetchEvent, any Error>.Continuation
        var options: ReceiveOptions
        /// The delivery this FETCH asked to resume (SPEC.md §4.8); a DELIVER_BEGIN may start at its offset.
        var resume: Frame.ResumePoint? = nil
        /// Whether the broker began delivering the resumed message (else its part file is stale at FETCH_DONE).
        var resumeBegun = false
        var delivered = 0
        var failed = false
    }

    /// The connection's subscription.
    struct SubscriptionContext {
        var requestID: UInt32
        var messages: AsyncThrowingStream<ReceivedMessage, any Error>.Continuation?
        var receipts: AsyncStream<SignedReceipt>.Continuation?
        var options: ReceiveOptions
        var failed = false
    }

    /// A STATUS_REQUEST in flight.
    struct StatusContext {
        var continuation: CheckedContinuation<[SignedReceipt], any Error>
        var receipts: [SignedReceipt] = []
    }

    /// The delivery being received.
    struct DeliveryInProgress {
        var begin: Frame.DeliverBegin
        var sink: PayloadSink
        var progress: (@Sendable (MessageID, UInt64, UInt64) -> Void)?
    }

    /// Most receipts collected for one STATUS_REQUEST (the broker records at most 4096 per message, SPEC.md §7.4).
    public static let maxRoutingSlipReceipts = 4096
    /// How long `connect` waits for the TLS handshake and WELCOME.
    public static let connectTimeout: Duration = .seconds(15)
    /// How long `close` waits for requests in flight to finish after GOAWAY.
    public static let drainTimeout: Duration = .seconds(5)

    init(
        credentials: ClientCredentials, limits: ProtocolLimits = .default, agent: String = "klammer/0.1",
        logger: Logger = Logger(label: "klammer.client")
    ) {
        self.credentials = credentials
        self.limits = limits
        self.agent = agent
        self.logger = logger
    }

    // MARK: State accessors

    /// The broker's WELCOME (limits, identities), once connected.
    public var welcome: Frame.Welcome? { machine.welcome }

    /// The participant the broker authenticated this connection as.
    public var participantID: ParticipantID? { machine.welcome?.participant }

    /// The current connection phase.
    public var phase: ClientStateMachine.Phase { machine.phase }

    func requireWelcome() throws(KlammerClientError) -> Frame.Welcome {
        if let closeError { throw closeError }
        guard let welcome = machine.welcome, machine.phase == .open else {
            throw KlammerClientError(.connectionClosed, "the connection is not open; connect again")
        }
        return welcome
    }

    // MARK: Transport plumbing

    /// Attaches the outbound side and sends HELLO.
    func start(writer: FrameWriter) async {
        self.writer = writer
        let hello = Frame.Hello(maxFrameSize: limits.maxFrameSize, agent: agent)
        do { try await write(.hello(hello)) } catch {
            transportFailed(error)
        }
    }

    /// Waits for WELCOME (or the failure that ends the connection first).
    func awaitWelcome() async throws -> Frame.Welcome {
        if let w = machine.welcome { return w }
        if let closeError { throw closeError }
        return try await withCheckedThrowingContinuation { welcomeWaiter = $0 }
    }

    func write(_ frame: Frame) async throws(KlammerClientError) {
        if let closeError, !(frame.type == .error) { throw closeError }
        guard let writer else { throw KlammerClientError(.connectionClosed, "the connection is not established") }
        do { try await writer.write(frame) } catch {
            throw KlammerClientError(.connectionFailed, "cannot write to the broker: \(error)")
        }
    }

    /// One frame from the broker.
    func handle(_ frame: Frame) async {
        lastReceived = .now
        let action = machine.receive(frame)
        await perform(action)
    }

    /// The inbound side failed (TLS alert, decoding error, reset).
    func transportFailed(_ error: any Error) {
        guard closeError == nil else { return }
        let beforeWelcome = machine.welcome == nil
        let action = machine.transportFailed(error)
        if case .closeConnection(var clientError, let sendError) = action {
            if beforeWelcome, !(error is ProtocolError) {
                // A drop before WELCOME: the broker refuses participants with an ERROR frame (handled in `handle`),
                // so a bare drop is a transport failure (e.g. a broker restart) and stays retryable.
                clientError = droppedBeforeWelcome(detail: "\(error)")
            }
            if let tls = error as? TLSError {
                let refused = Self.refusingTLSCodes.contains(tls.code)
                clientError = KlammerClientError(
                    beforeWelcome && refused ? .handshakeRefused : .connectionFailed,
                    refused
                        ? "the TLS handshake with the broker was refused: \(tls.message) (\(tls.code)); check that --ca is the CA that issued the broker's certificate and that your certificate is issued by the broker's CA, valid and not revoked"
                        : "the TLS connection to the broker failed: \(tls.message) (\(tls.code)); retry")
            }
            if let sendError, let writer {
                // Best effort: tell the broker why, then close (failAll must not close before the write).
                failAll(clientError, closeTransport: false)
                Task {
                    try? await writer.write(.error(sendError)); writer.close()
                }
            } else {
                failAll(clientError)
            }
        }
    }

    /// The inbound side ended.
    func transportClosed() {
        let beforeWelcome = machine.welcome == nil
        machine.closed()
        if beforeWelcome {
            failAll(closeError ?? droppedBeforeWelcome(detail: nil))
        } else {
            failAll(
                closeError
                    ?? KlammerClientError(
                        .connectionClosed, "the broker closed the connection; connect again and retry (sends are safe to repeat)"))
        }
    }

    /// A connection lost before WELCOME without an ERROR frame or a TLS alert: retryable (a broker refusing the
    /// participant says so with ERROR, SPEC.md §4.5).
    func droppedBeforeWelcome(detail: String?) -> KlammerClientError {
        KlammerClientError(
            .connectionFailed,
            "the connection to the broker was lost before the Klammer handshake finished\(detail.map { " (\($0))" } ?? ""); the broker may be restarting or overloaded — retry"
        )
    }

    /// TLS failures that are a refusal (a retry with the same credentials fails again), as opposed to a lost
    /// connection.
    static let refusingTLSCodes: Set<TLSError.Code> = [
        .certificateVerificationFailed, .peerCertificateMissing, .keyTooSmall, .protocolVersionRefused,
        .noApplicationProtocol, .alertReceived, .unauthorized, .invalidConfiguration
    ]

    /// Fails every waiter and stream with `error`; later calls throw it. Closes the transport unless told not to.
    func failAll(_ error: KlammerClientError, closeTransport: Bool = true) {
        if closeError == nil { closeError = error }
        machine.closed()
        heartbeatTask?.cancel()
        heartbeatTask = nil
        welcomeWaiter?.resume(throwing: error)
        welcomeWaiter = nil
        for w in windowWaiters { w.resume(throwing: error) }
        windowWaiters = []
        for (_, u) in uploads { u.finish(throwing: error) }
        uploads = [:]
        rejectedReceipts = [:]
        for (_, f) in fetches { f.continuation.finish(throwing: error) }
        fetches = [:]
        subscription?.messages?.finish(throwing: error)
        subscription?.receipts?.finish()
        subscription = nil
        for (_, a) in acknowledgements { a.resume(throwing: error) }
        acknowledgements = [:]
        for (_, s) in statuses { s.continuation.resume(throwing: error) }
        statuses = [:]
        for (_, lookup) in directoryLookups { lookup.resume(throwing: error) }
        directoryLookups = [:]
        // A delivery cut by the connection keeps its part file: the next FETCH can resume it (SPEC.md §4.8).
        delivery?.sink.keepForResume()
        delivery = nil
        for d in drainWaiters { d.resume() }
        drainWaiters = []
        if closeTransport { writer?.close() }
    }

    /// While draining: close once no request is left.
    func closeIfDrained() {
        guard machine.phase == .draining, !machine.hasRequestsInFlight else { return }
        for d in drainWaiters { d.resume() }
        drainWaiters = []
        writer?.close()
    }

    // MARK: Heartbeat

    func startHeartbeat(intervalMillis: UInt32) {
        guard intervalMillis > 0 else { return }
        let interval = Duration.milliseconds(Int64(intervalMillis))
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                guard let self, !Task.isCancelled else { return }
                await self.heartbeatTick(interval: interval)
            }
        }
    }

    /// SPEC.md §4.5: PING after 2 intervals of silence, give up after 3 — but only once a PING has been out for a
    /// whole interval unanswered, so a late timer tick (a stalled process) never declares the broker dead unasked.
    func heartbeatTick(interval: Duration) async {
        guard closeError == nil else { return }
        let now = ContinuousClock.now
        let silence = now - lastReceived
        if let sent = pingSentAt, sent < lastReceived { pingSentAt = nil }
        if silence >= interval * 3, let sent = pingSentAt, now - sent >= interval {
            let error = ProtocolError(.heartbeatTimeout, "nothing received from the broker for \(silence)")
            try? await write(.error(Frame.ErrorFrame(error, requestID: 0)))
            failAll(
                KlammerClientError(
                    .connectionFailed, code: .heartbeatTimeout,
                    "the broker stopped answering (no frame for \(silence)); connect again and retry"))
        } else if silence >= interval * 2, pingSentAt == nil {
            pingSentAt = now
            try? await write(.ping(Frame.Ping(data: UInt64.random(in: 0...UInt64.max))))
        }
    }

    // MARK: Close

    /// Graceful close: GOAWAY, wait up to ``drainTimeout`` for requests in flight, then close the connection.
    public func close() async {
        guard closeError == nil else { return }
        if let goAway = machine.beginClose() {
            try? await write(.goAway(goAway))
        }
        if machine.hasRequestsInFlight {
            let timeout = Task { [weak self] in
                try? await Task.sleep(for: Self.drainTimeout)
                await self?.closeIfDrainedOrTimedOut()
            }
            await withCheckedContinuation { drainWaiters.append($0) }
            timeout.cancel()
        }
        failAll(KlammerClientError(.connectionClosed, "the connection was closed by this client"))
    }

    func closeIfDrainedOrTimedOut() {
        for d in drainWaiters { d.resume() }
        drainWaiters = []
    }

    // MARK: Receipts

    /// Verifies the broker's CMS signature on a receipt with the broker's TLS certificate (or `signer`).
    public func verifyReceipt(_ receipt: SignedReceipt, signer: Certificate? = nil) throws(KlammerClientError) {
        guard let certificate = signer ?? brokerCertificate else {
            throw KlammerClientError(.verificationFailed, "no broker certificate to verify the receipt with")
        }
        do {
            try CMS.verifyDetached(signature: receipt.brokerSignature, content: receipt.receipt.canonicalBytes, signer: certificate)
        } catch {
            throw KlammerClientError(
                .verificationFailed,
                "the broker's signature on the \(receipt.receipt.kind) receipt does not verify with \(certificate.subject): \(error)")
        }
    }
}

/// The outbound half of a connection: writes frames, closes.
struct FrameWriter: Sendable {
    let write: @Sendable (Frame) async throws -> Void
    let close: @Sendable () -> Void
}
