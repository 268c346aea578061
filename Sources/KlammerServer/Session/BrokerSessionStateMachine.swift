public import KlammerBroker
public import KlammerProtocol
import KlammerTLS

/// The decisions of one broker connection (SPEC.md §4.5, §9), as a value type without I/O: every input returns the
/// ``Action``s the channel handler must perform. Time is passed in (monotonic milliseconds), so tests drive it
/// without sockets or clocks.
public struct BrokerSessionStateMachine: Sendable {
    /// What the handler must do.
    public enum Action: Sendable, Equatable {
        /// Write (and flush) a frame.
        case write(Frame)
        /// Write ERROR(0) and close the connection; no further actions follow.
        case fail(Frame.ErrorFrame)
        /// Close the connection (after the frames already written).
        case close
        /// HELLO was accepted: start the request and delivery lanes for this participant.
        case startLanes(participant: Participant, id: ParticipantID, clientMaxFrameSize: UInt32)
        /// Queue work on the request lane.
        case request(RequestWork)
        /// Queue a job on the delivery lane.
        case deliver(DeliveryJob)
        /// Start pushing receipt events for the participant's sent messages on this subscription.
        case startReceipts(requestID: UInt32)
        /// Wake push subscriptions of these participants (new or returned messages).
        case wake([ParticipantID])
        /// Report a refused connection (log, metrics, audit log); the `.fail` with its ERROR follows.
        case report(RefusalEvent)
    }

    /// The phase of the connection.
    public enum Phase: Sendable, Equatable {
        /// TLS is up but the authorizer has not admitted the peer yet.
        case awaitingTLS
        /// Waiting for HELLO.
        case awaitingHello
        /// Requests run.
        case open
        /// GOAWAY sent (`initiatedByBroker`) or received; open requests finish, then the connection closes.
        case draining(initiatedByBroker: Bool)
        /// Closed (or closing); every input is ignored.
        case closed
    }

    enum UploadPhase: Sendable, Equatable { case beginning, streaming, finishing }
    enum PendingKind: Sendable, Equatable { case ack, nack, status, directory }
    struct Subscription: Sendable, Equatable {
        var requestID: UInt32
        var topics: Frame.Subscribe.Topics
        var credits: UInt64
        var pushInFlight = false
        var reserved = 0
        var nextPollAt: Int64 = 0
    }

    /// Current phase.
    public private(set) var phase: Phase = .awaitingTLS
    let configuration: SessionConfiguration
    var fingerprint = ""
    var participantID: ParticipantID?
    var clientMaxFrameSize: UInt32 = 4096
    var window: FlowControlWindow
    var ungranted: UInt32 = 0
    var queuedUploadBytes = 0
    var queuedRequests = 0
    var uploads: [UInt32: UploadPhase] = [:]
    var failedUploads: Set<UInt32> = []
    var pending: [UInt32: PendingKind] = [:]
    var fetches: Set<UInt32> = []
    var subscription: Subscription?
    var highestRequestID: UInt32 = 0
    var goAwayLastRequestID: UInt32 = .max
    var helloDeadline: Int64 = 0
    var drainDeadline: Int64 = .max
    var lastReceivedAt: Int64 = 0
    var pingOutstanding = false
    var pingCounter: UInt64 = 0
    /// The registry's refusal of this connection's certificate, looked up when TLS admitted the peer: answers the
    /// first input (whatever it is) and the HELLO timeout, so a refused peer always learns its code (SPEC.md §4.5).
    var pendingRefusal: ProtocolError?
    /// The registry id of a refused connection's certificate, if it has one (for the audit entry).
    var refusedParticipantID: String?

    /// Bound of the set of recently failed uploads whose late CHUNK/SEND_END frames are dropped silently.
    static let maxFailedUploads = 256

    /// A session for one accepted connection.
    public init(configuration: SessionConfiguration) {
        self.configuration = configuration
        self.window = FlowControlWindow(initial: configuration.limits.initialWindowSize)
    }

    /// Whether the handler may read more input: false while the store lags behind the upload (queued payload bytes)
    /// or too many requests wait for the broker, so per-connection memory stays bounded.
    public var wantsToRead: Bool {
        phase != .closed && queuedUploadBytes < configuration.maxQueuedUploadBytes
            && queuedRequests < configuration.maxQueuedRequests
    }

    /// The participant id bound by HELLO.
    public var participant: ParticipantID? { participantID }

    // MARK: Connection events

    /// The TLS layer admitted the peer (`TLSEvent.authorized`): check ALPN, start the HELLO timer.
    public mutating func authorized(applicationProtocol: String?, fingerprintHex: String, now: Int64) -> [Action] {
        guard phase == .awaitingTLS else { return [] }
        fingerprint = fingerprintHex
        guard applicationProtocol == klammerALPN else {
            return fail(
                ProtocolError(
                    .unsupportedVersion,
                    "the TLS connection negotiated ALPN \(applicationProtocol ?? "none"), not \(klammerALPN); connect with ALPN \(klammerALPN)"
                ))
        }
        phase = .awaitingHello
        helloDeadline = now + configuration.helloTimeoutMillis
        lastReceivedAt = now
        return []
    }

    /// As ``authorized(applicationProtocol:fingerprintHex:now:)``, with the registry entry for the TLS fingerprint
    /// (nil: none). The TLS layer admits every certificate that chains to the CA; a refused participant is answered
    /// with ERROR(0, UNKNOWN_PARTICIPANT / PARTICIPANT_SUSPENDED / PARTICIPANT_REVOKED / CERTIFICATE_NOT_REGISTERED)
    /// at its first input (HELLO looks the participant up again) and the connection closes. Nothing it sends is
    /// processed.
    public mutating func authorized(
        applicationProtocol: String?, fingerprintHex: String, registered: Participant?,
        now: Int64
    ) -> [Action] {
        let actions = authorized(applicationProtocol: applicationProtocol, fingerprintHex: fingerprintHex, now: now)
        if phase == .awaitingHello { pendingRefusal = refusal(of: registered) }
        return actions
    }

    /// Why `participant` (the registry entry for this connection's fingerprint) may not use the connection, or nil.
    mutating func refusal(of participant: Participant?) -> ProtocolError? {
        if case .failure(let refusal) = admit(participant) { return refusal }
        return nil
    }

    /// The participant if it may use this connection, else the refusal (SPEC.md §9.1 step 2).
    mutating func admit(_ participant: Participant?) -> Result<Participant, ProtocolError> {
        refusedParticipantID = participant?.id
        guard let participant else {
            return .failure(
                ProtocolError(
                    .unknownParticipant,
                    "the client certificate (sha256 \(fingerprint)) is not registered to any participant at this broker; ask the broker operator to register it ('klammerctl participant add' or 'klammerctl participant cert add')"
                ))
        }
        switch participant.status {
        case .active: break
        case .suspended:
            return .failure(
                ProtocolError(
                    .participantSuspended,
                    "participant \(participant.id) is suspended at this broker and may not connect; ask the broker operator to resume it ('klammerctl participant resume')"
                ))
        case .revoked:
            return .failure(
                ProtocolError(
                    .participantRevoked,
                    "participant \(participant.id) is revoked at this broker; it cannot connect again, a new registration by the broker operator is required"
                ))
        }
        guard participant.certificates.contains(where: { $0.fingerprint == fingerprint }) else {
            return .failure(
                ProtocolError(
                    .certificateNotRegistered,
                    "the client certificate (sha256 \(fingerprint)) is not registered for participant \(participant.id); connect with a registered certificate or ask the broker operator to add this one ('klammerctl participant cert add')"
                ))
        }
        return .success(participant)
    }

    /// A frame decoding error (`ProtocolError` from the decoder): fatal.
    public mutating func decodingFailed(_ error: ProtocolError) -> [Action] {
        guard phase != .closed else { return [] }
        if phase == .awaitingHello, let refusal = pendingRefusal { return refuse(refusal) }
        return fail(error)
    }

    /// The channel closed.
    public mutating func closed() {
        phase = .closed
    }

    /// Periodic timer: HELLO timeout, heartbeat, drain deadline, subscription polling.
    public mutating func tick(now: Int64) -> [Action] {
        switch phase {
        case .awaitingTLS, .closed:
            return []
        case .awaitingHello:
            if now >= helloDeadline {
                if let refusal = pendingRefusal { return refuse(refusal) }
                return fail(
                    ProtocolError(
                        .handshakeTimeout, "no HELLO within \(configuration.helloTimeoutMillis) ms of the TLS handshake; send HELLO first"))
            }
            return []
        case .open, .draining:
            var actions: [Action] = []
            let heartbeat = configuration.heartbeatMillis
            // While we hold reading back (the store lags), the client's silence is ours, not the client's.
            if !wantsToRead { lastReceivedAt = now }
            if heartbeat > 0 {
                let silence = now - lastReceivedAt
                if silence >= 3 * heartbeat {
                    return fail(
                        ProtocolError(
                            .heartbeatTimeout, "nothing received for \(silence) ms (3 × heartbeat interval \(heartbeat) ms); closing"))
                }
                if silence >= 2 * heartbeat, !pingOutstanding {
                    pingOutstanding = true
                    pingCounter &+= 1
                    actions.append(.write(.ping(.init(data: pingCounter))))
                }
            }
            if case .draining = phase, now >= drainDeadline {
                return actions
                    + fail(
                        ProtocolError(
                            .shuttingDown,
                            "open requests did not finish within \(configuration.drainTimeoutMillis) ms after GOAWAY; closing"))
            }
            if let s = subscription, now >= s.nextPollAt {
                actions += pushIfPossible(now: now)
            }
            return actions
        }
    }

    /// New or returned messages may be waiting for this participant.
    public mutating func wake(now: Int64) -> [Action] {
        guard subscription != nil else { return [] }
        subscription?.nextPollAt = 0
        return pushIfPossible(now: now)
    }

    /// Graceful shutdown: GOAWAY with the highest request id seen, then drain.
    public mutating func shutdown(now: Int64) -> [Action] {
        switch phase {
        case .awaitingTLS, .awaitingHello:
            return fail(ProtocolError(.shuttingDown, "the broker is shutting down; reconnect later"))
        case .open:
            phase = .draining(initiatedByBroker: true)
            goAwayLastRequestID = highestRequestID
            drainDeadline = now + configuration.drainTimeoutMillis
            let goAway = Frame.goAway(
                .init(
                    lastRequestID: highestRequestID, code: .shuttingDown,
                    message: "the broker is shutting down; retry later requests on a new connection"))
            return [.write(goAway)] + closeIfDrained()
        case .draining, .closed:
            return []
        }
    }

    /// The registry changed the connected participant (nil = removed). Cuts the connection if it may no longer act.
    public mutating func participantChanged(_ participant: Participant?) -> [Action] {
        guard phase != .closed, let id = participantID else { return [] }
        guard let p = participant else {
            return cut(ProtocolError(.unknownParticipant, "participant \(id) was removed from the registry; the connection is closed"))
        }
        switch p.status {
        case .suspended:
            return cut(
                ProtocolError(.participantSuspended, "participant \(id) was suspended by the broker operator; the connection is closed"))
        case .revoked:
            return cut(ProtocolError(.participantRevoked, "participant \(id) was revoked; the connection is closed"))
        case .active:
            break
        }
        guard p.certificates.contains(where: { $0.fingerprint == fingerprint }) else {
            return cut(
                ProtocolError(
                    .certificateNotRegistered,
                    "the certificate of this connection (\(fingerprint)) was removed from participant \(id); the connection is closed"))
        }
        return []
    }

    /// A reloaded CRL revokes this connection's client certificate: close it.
    public mutating func certificateRevoked() -> [Action] {
        guard phase != .closed else { return [] }
        return cut(
            ProtocolError(
                .participantRevoked,
                "the certificate of this connection (\(fingerprint)) was revoked by a CRL the broker loaded; the connection is closed. Connect with a valid certificate"
            ))
    }

    // MARK: Frames

    /// A frame from the client. `helloParticipant` is the registry entry for the TLS fingerprint, looked up by the
    /// handler only for HELLO.
    public mutating func received(_ inbound: InboundFrame, helloParticipant: Participant? = nil, now: Int64) -> [Action] {
        guard phase != .closed, phase != .awaitingTLS else { return [] }
        lastReceivedAt = now
        pingOutstanding = false
        let type = inbound.type
        if phase == .awaitingHello, type != .hello, let refusal = pendingRefusal { return refuse(refusal) }
        if let connectionPhase, !connectionPhase.allows(type, from: .client) {
            // New requests after our GOAWAY are not processed (the client retries them elsewhere, SPEC.md §4.4.5).
            if case .draining(initiatedByBroker: true) = phase, Self.startsRequest(type), inboundRequestID(inbound) > goAwayLastRequestID {
                return []
            }
            return fail(connectionPhase.unexpected(type, from: .client))
        }
        switch inbound {
        case .sendBegin(let id, let form, let bytes):
            return sendBegin(id, form: form, envelopeBytes: bytes)
        case .frame(let frame):
            return received(frame, helloParticipant: helloParticipant)
        }
    }

    private mutating func received(_ frame: Frame, helloParticipant: Participant?) -> [Action] {
        switch frame {
        case .hello(let hello):
            return self.hello(hello, participant: helloParticipant)
        case .ping(let ping):
            return [.write(.pong(ping))]
        case .pong:
            return []
        case .goAway:
            if case .open = phase {
                phase = .draining(initiatedByBroker: false)
                goAwayLastRequestID = highestRequestID
                drainDeadline = Int64.max
            }
            return closeIfDrained()
        case .error(let error):
            return clientError(error)
        case .chunk(let chunk):
            return self.chunk(chunk)
        case .sendEnd(let end):
            return sendEnd(end)
        case .fetch(let fetch):
            if let dup = checkNewRequest(fetch.requestID) { return dup }
            fetches.insert(fetch.requestID)
            return [.deliver(.fetch(requestID: fetch.requestID, max: Int(fetch.maxMessages), resume: fetch.resume))]
        case .subscribe(let subscribe):
            if subscription != nil {
                return fail(
                    ProtocolError(
                        .unexpectedFrame,
                        "this connection already has a subscription (request \(subscription!.requestID)); only one per connection"))
            }
            if let dup = checkNewRequest(subscribe.requestID) { return dup }
            subscription = Subscription(requestID: subscribe.requestID, topics: subscribe.topics, credits: UInt64(subscribe.credits))
            var actions: [Action] = []
            if subscribe.topics.contains(.receipts) { actions.append(.startReceipts(requestID: subscribe.requestID)) }
            return actions + pushIfPossible(now: lastReceivedAt)
        case .credit(let credit):
            guard var s = subscription, s.requestID == credit.requestID else {
                return [
                    .write(
                        .error(
                            .init(
                                requestID: credit.requestID, code: .unknownRequest,
                                message: "CREDIT for request \(credit.requestID), which is not this connection's subscription")))
                ]
            }
            guard s.credits + UInt64(s.reserved) + UInt64(credit.credits) <= UInt64(UInt32.max) else {
                return fail(ProtocolError(.flowControlViolation, "CREDIT would raise the subscription's credits above 2^32 − 1"))
            }
            s.credits += UInt64(credit.credits)
            s.nextPollAt = 0  // the client asks for more now: look at the queue at once
            subscription = s
            return pushIfPossible(now: lastReceivedAt)
        case .ack(let ack):
            if let dup = checkNewRequest(ack.requestID) { return dup }
            pending[ack.requestID] = .ack
            queuedRequests += 1
            return [.request(.ack(requestID: ack.requestID, statement: ack.statement.canonicalBytes, signature: ack.signature))]
        case .nack(let nack):
            if let dup = checkNewRequest(nack.requestID) { return dup }
            pending[nack.requestID] = .nack
            queuedRequests += 1
            return [
                .request(
                    .nack(
                        requestID: nack.requestID, messageID: nack.messageID,
                        delayMillis: min(nack.retryAfterMillis, configuration.maxNackDelayMillis)))
            ]
        case .statusRequest(let status):
            if let dup = checkNewRequest(status.requestID) { return dup }
            pending[status.requestID] = .status
            queuedRequests += 1
            return [.request(.status(requestID: status.requestID, messageID: status.messageID))]
        case .directoryLookup(let lookup):
            if let dup = checkNewRequest(lookup.requestID) { return dup }
            pending[lookup.requestID] = .directory
            queuedRequests += 1
            return [.request(.directory(requestID: lookup.requestID, participant: lookup.participant))]
        case .sendBegin(let begin):
            // Only reachable when a caller feeds decoded frames (tests); the raw path is `InboundFrame.sendBegin`.
            return sendBegin(begin.requestID, form: begin.signatureForm, envelopeBytes: begin.envelope.canonicalBytes)
        case .welcome, .ready, .accepted, .windowUpdate, .deliverBegin, .deliverChunk, .deliverEnd, .fetchDone,
            .receipt, .routingSlip, .directoryAnswer:
            return fail(ProtocolError(.unexpectedFrame, "\(frame.type) is sent by the broker, not the client"))
        }
    }

    private mutating func hello(_ hello: Frame.Hello, participant registered: Participant?) -> [Action] {
        let version: UInt16
        do { version = try hello.negotiate() } catch { return fail(ProtocolError.from(error)) }
        let participant: Participant
        switch admit(registered) {
        case .success(let p): participant = p
        case .failure(let refusal): return refuse(refusal)
        }
        let id: ParticipantID
        do { id = try ParticipantID(participant.id) } catch {
            return fail(
                ProtocolError(
                    .internalError, "registered participant id \(participant.id) has invalid syntax; the operator must fix the registry"))
        }
        participantID = id
        clientMaxFrameSize = hello.maxFrameSize
        phase = .open
        let welcome = Frame.Welcome(
            version: version, participant: id, brokerID: configuration.brokerID,
            limits: configuration.limits, agent: configuration.agent)
        return [.startLanes(participant: participant, id: id, clientMaxFrameSize: hello.maxFrameSize), .write(.welcome(welcome))]
    }

    // MARK: Upload

    private mutating func sendBegin(_ id: UInt32, form: SignatureForm, envelopeBytes: [UInt8]) -> [Action] {
        if let dup = checkNewRequest(id) { return dup }
        // Each open upload holds memory (or a blob descriptor) until SEND_END: bounded per connection, before any
        // work is queued (the lane bounds it per participant and broker-wide, ``UploadQuota``).
        let open = uploads.values.reduce(0) { $0 + ($1 == .finishing ? 0 : 1) }
        if open >= configuration.maxOpenUploadsPerConnection {
            return [
                .write(
                    .error(
                        .init(
                            requestID: id, code: .quotaExceeded,
                            message:
                                "this connection has \(open) uploads open (limit \(configuration.maxOpenUploadsPerConnection), limits.max_open_uploads_per_connection); finish or cancel one, then retry"
                        )))
            ]
        }
        failedUploads.remove(id)
        uploads[id] = .beginning
        queuedRequests += 1
        return [.request(.begin(requestID: id, form: form, envelopeBytes: envelopeBytes))]
    }

    private mutating func chunk(_ chunk: Frame.Chunk) -> [Action] {
        let count = chunk.data.readableBytes
        do { try window.consume(count) } catch { return fail(ProtocolError.from(error)) }
        switch uploads[chunk.requestID] {
        case .streaming:
            queuedUploadBytes += count
            queuedRequests += 1
            return [.request(.chunk(requestID: chunk.requestID, offset: chunk.offset, data: chunk.data))]
        case .beginning:
            return fail(ProtocolError(.unexpectedFrame, "CHUNK for upload \(chunk.requestID) before READY; wait for READY"))
        case .finishing:
            return fail(ProtocolError(.unexpectedFrame, "CHUNK for upload \(chunk.requestID) after SEND_END"))
        case nil:
            var actions = release(count)
            if !failedUploads.contains(chunk.requestID) {
                actions.append(
                    .write(
                        .error(
                            .init(
                                requestID: chunk.requestID, code: .unknownRequest,
                                message: "CHUNK for request \(chunk.requestID), which is not an upload in progress"))))
            }
            return actions
        }
    }

    private mutating func sendEnd(_ end: Frame.SendEnd) -> [Action] {
        switch uploads[end.requestID] {
        case .streaming:
            uploads[end.requestID] = .finishing
            queuedRequests += 1
            return [.request(.end(requestID: end.requestID, signature: end.signature))]
        case .beginning:
            return fail(ProtocolError(.unexpectedFrame, "SEND_END for upload \(end.requestID) before READY; wait for READY"))
        case .finishing:
            return fail(ProtocolError(.unexpectedFrame, "second SEND_END for upload \(end.requestID)"))
        case nil:
            if failedUploads.remove(end.requestID) != nil { return [] }
            return [
                .write(
                    .error(
                        .init(
                            requestID: end.requestID, code: .unknownRequest,
                            message: "SEND_END for request \(end.requestID), which is not an upload in progress")))
            ]
        }
    }

    /// Returns `count` bytes to the client's window; WINDOW_UPDATE once a chunk's worth is free or nothing is queued.
    private mutating func release(_ count: Int) -> [Action] {
        ungranted += UInt32(count)
        let threshold = max(1, min(configuration.limits.maxChunkSize, configuration.limits.initialWindowSize / 2))
        guard ungranted > 0, ungranted >= threshold || queuedUploadBytes == 0 else { return [] }
        let increment = ungranted
        do { try window.grant(increment) } catch { return [] }  // cannot overflow: only consumed bytes return
        ungranted = 0
        return [.write(.windowUpdate(.init(increment: increment)))]
    }

    private mutating func clientError(_ error: Frame.ErrorFrame) -> [Action] {
        if error.requestID == 0 {
            phase = .closed
            return [.close]
        }
        // The client gives up one request: an upload is discarded; other requests finish (their answer is ignored).
        if let upload = uploads[error.requestID], upload != .finishing {
            uploads[error.requestID] = nil
            failedUploads.insert(error.requestID)
            queuedRequests += 1
            return [.request(.abort(requestID: error.requestID))]
        }
        return []
    }

    // MARK: Results

    /// A result from the request lane.
    public mutating func requestResult(_ result: RequestResult, now: Int64) -> [Action] {
        guard phase != .closed else { return [] }
        if case .lost(let id) = result {
            // Not an answer to queued work (no request count to release): the upload went to another connection.
            guard uploads[id] == .streaming else { return [] }
            uploads[id] = nil
            rememberFailed(id)
            return [
                .write(
                    .error(
                        .init(
                            requestID: id, code: .unknownRequest,
                            message: "upload \(id) was resumed on another connection (same sender and client message id), which now owns it"
                        )))
            ]
                + closeIfDrained()
        }
        if case .refusalBudgetExhausted(let error) = result { return fail(error) }
        queuedRequests = max(0, queuedRequests - 1)
        var actions: [Action] = []
        switch result {
        case .ready(let id, let offset):
            if uploads[id] == .beginning {
                uploads[id] = .streaming
                actions.append(.write(.ready(.init(requestID: id, offset: offset))))
            }
        case .duplicate(let id, let receipt):
            if uploads.removeValue(forKey: id) != nil {
                actions.append(.write(.accepted(.init(requestID: id, receipt: receipt))))
            }
        case .chunkDone(let id, let bytes, let error):
            queuedUploadBytes = max(0, queuedUploadBytes - bytes)
            if let error, uploads[id] != nil {
                uploads[id] = nil
                rememberFailed(id)
                actions.append(.write(.error(.init(error, requestID: id))))
            }
            actions += release(bytes)
        case .accepted(let id, let receipt, let recipients):
            if uploads.removeValue(forKey: id) != nil {
                actions.append(.write(.accepted(.init(requestID: id, receipt: receipt))))
            }
            actions.append(.wake(recipients))
        case .aborted, .lost, .refusalBudgetExhausted:
            break
        case .acknowledged(let id, let receipt):
            if pending.removeValue(forKey: id) != nil {
                actions.append(.write(.receipt(.init(requestID: id, receipt: receipt))))
            }
        case .nacked(let id, let redeliverNow):
            pending[id] = nil
            if redeliverNow, let own = participantID { actions.append(.wake([own])) }
        case .slip(let id, let messageID, let receipts):
            if pending.removeValue(forKey: id) != nil {
                actions += routingSlipFrames(requestID: id, messageID: messageID, receipts: receipts)
            }
        case .rejected(let id, let error, let receipt, let chunkBytes):
            if let chunkBytes { queuedUploadBytes = max(0, queuedUploadBytes - chunkBytes) }
            if uploads.removeValue(forKey: id) != nil {
                rememberFailed(id)
                // The signed `rejected` receipt goes first, so the client has it when the ERROR ends the request.
                actions.append(.write(.receipt(.init(requestID: id, receipt: receipt))))
                actions.append(.write(.error(.init(error, requestID: id))))
            }
            if let chunkBytes { actions += release(chunkBytes) }
        case .directory(let answer):
            if pending.removeValue(forKey: answer.requestID) != nil {
                actions.append(.write(.directoryAnswer(answer)))
            }
        case .failed(let id, let error):
            if uploads.removeValue(forKey: id) != nil {
                rememberFailed(id)
                actions.append(.write(.error(.init(error, requestID: id))))
            } else if pending.removeValue(forKey: id) != nil {
                actions.append(.write(.error(.init(error, requestID: id))))
            }
        }
        return actions + closeIfDrained()
    }

    /// A result from the delivery lane.
    public mutating func deliveryResult(_ result: DeliveryResult, now: Int64) -> [Action] {
        guard phase != .closed else { return [] }
        var actions: [Action] = []
        switch result {
        case .fetchFinished(let id, let delivered, let more):
            fetches.remove(id)
            actions.append(.write(.fetchDone(.init(requestID: id, delivered: UInt16(clamping: delivered), moreAvailable: more))))
        case .fetchFailed(let id, _, let error):
            fetches.remove(id)
            actions.append(.write(.error(.init(error, requestID: id))))
        case .pushFinished(let id, let delivered, let requested, let error):
            guard var s = subscription, s.requestID == id else { break }
            s.pushInFlight = false
            s.reserved = 0
            s.credits += UInt64(max(0, requested - delivered))
            // A full round means more may be waiting: go on at once; otherwise wait for a wake-up or the poll timer.
            s.nextPollAt = (delivered == requested && error == nil) ? 0 : now + configuration.pollIntervalMillis
            subscription = s
            if let error {
                actions.append(.write(.error(.init(requestID: id, code: error.code, message: "push delivery failed: \(error.message)"))))
            }
            actions += pushIfPossible(now: now)
        }
        return actions + closeIfDrained()
    }

    // MARK: Helpers

    private mutating func pushIfPossible(now: Int64) -> [Action] {
        guard case .open = phase, var s = subscription, s.topics.contains(.deliveries), !s.pushInFlight,
            s.credits > 0, now >= s.nextPollAt
        else { return [] }
        let n = Int(min(s.credits, UInt64(configuration.pushBatch)))
        s.credits -= UInt64(n)
        s.reserved = n
        s.pushInFlight = true
        subscription = s
        return [.deliver(.push(requestID: s.requestID, max: n))]
    }

    private func routingSlipFrames(requestID: UInt32, messageID: MessageID, receipts: [SignedReceipt]) -> [Action] {
        // Split by the entry limit and by the client's frame size (header 10 + id 16 + more 1 + count 2).
        let budget = Int(clientMaxFrameSize) + 4 - 29
        var frames: [[SignedReceipt]] = []
        var current: [SignedReceipt] = []
        var size = 0
        for r in receipts {
            let n = r.encodedBytes.count
            guard n <= budget else {
                return [
                    .write(
                        .error(
                            .init(
                                requestID: requestID, code: .limitExceeded,
                                message:
                                    "a receipt of message \(messageID) (\(n) bytes) does not fit the client's max frame size \(clientMaxFrameSize)"
                            )))
                ]
            }
            if current.count == Int(configuration.limits.maxRoutingSlipEntries) || size + n > budget {
                frames.append(current)
                current = []
                size = 0
            }
            current.append(r)
            size += n
        }
        frames.append(current)
        return frames.enumerated().map { i, chunk in
            .write(.routingSlip(.init(requestID: requestID, messageID: messageID, more: i < frames.count - 1, receipts: chunk)))
        }
    }

    private mutating func rememberFailed(_ id: UInt32) {
        if failedUploads.count >= Self.maxFailedUploads { failedUploads.removeAll() }
        failedUploads.insert(id)
    }

    /// nil if `id` may start a new request; else the connection error (DUPLICATE_REQUEST_ID).
    private mutating func checkNewRequest(_ id: UInt32) -> [Action]? {
        if uploads[id] != nil || pending[id] != nil || fetches.contains(id) || subscription?.requestID == id {
            return fail(ProtocolError(.duplicateRequestID, "request id \(id) is already in flight; use a fresh id"))
        }
        highestRequestID = max(highestRequestID, id)
        return nil
    }

    private mutating func closeIfDrained() -> [Action] {
        guard case .draining = phase, uploads.isEmpty, pending.isEmpty, fetches.isEmpty,
            subscription?.pushInFlight != true
        else { return [] }
        phase = .closed
        return [.close]
    }

    /// Refuses the connected participant (registry): ERROR(0, code), close.
    private mutating func refuse(_ error: ProtocolError) -> [Action] {
        let event = RefusalEvent(
            kind: .connection, participant: refusedParticipantID, fingerprint: fingerprint,
            code: error.code, reason: error.message)
        return [.report(event)] + fail(error)
    }

    /// Closes a live connection whose participant or certificate may no longer act, and reports it for the audit
    /// log with what was in progress.
    private mutating func cut(_ error: ProtocolError) -> [Action] {
        var details: [String: String] = [:]
        if !uploads.isEmpty { details["uploads_in_progress"] = "\(uploads.count)" }
        if !pending.isEmpty { details["requests_in_progress"] = "\(pending.count)" }
        let event = RefusalEvent(
            kind: .cut, participant: participantID?.rawValue ?? refusedParticipantID, fingerprint: fingerprint,
            code: error.code, reason: error.message, details: details)
        return [.report(event)] + fail(error)
    }

    private mutating func fail(_ error: ProtocolError) -> [Action] {
        phase = .closed
        return [.fail(.init(error, requestID: 0))]
    }

    private var connectionPhase: ConnectionPhase? {
        switch phase {
        case .awaitingHello: return .awaitingHello
        case .open: return .open
        case .draining: return .draining
        case .awaitingTLS, .closed: return nil
        }
    }

    private static func startsRequest(_ type: FrameType) -> Bool {
        type == .sendBegin || type == .fetch || type == .subscribe || type == .statusRequest || type == .directoryLookup
    }

    private func inboundRequestID(_ inbound: InboundFrame) -> UInt32 {
        switch inbound {
        case .sendBegin(let id, _, _): return id
        case .frame(let f): return f.requestID
        }
    }
}
