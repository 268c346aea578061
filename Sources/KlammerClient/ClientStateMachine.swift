public import KlammerProtocol
public import NIOCore

/// The client side of one Klammer connection as a value: phase, requests in flight, the upload window and the one
/// delivery being received (SPEC.md §4.5, §4.6). It decides; ``KlammerClient`` performs the returned actions.
///
/// Rules it enforces on broker frames: legal in the phase and direction, request id in flight and of a matching kind,
/// deliveries not interleaved and contiguous, window updates within 2^31 − 1. A violation yields
/// ``InboundAction/closeConnection(_:sendError:)``.
public struct ClientStateMachine: Sendable {
    /// What a request id is used for.
    public enum RequestKind: Hashable, Sendable {
        /// SEND_BEGIN … ACCEPTED.
        case upload
        /// FETCH … FETCH_DONE.
        case fetch
        /// SUBSCRIBE; lives until the connection closes.
        case subscription
        /// ACK … RECEIPT.
        case acknowledge
        /// STATUS_REQUEST … last ROUTING_SLIP.
        case status
        /// DIRECTORY_LOOKUP … DIRECTORY_ANSWER.
        case directory
    }

    /// Connection phase as seen by the client.
    public enum Phase: Hashable, Sendable {
        /// HELLO sent, WELCOME not yet received.
        case awaitingWelcome
        /// Requests may start.
        case open
        /// GOAWAY sent or received: open requests finish, no new ones.
        case draining
        /// The transport is gone.
        case closed
    }

    /// What the client must do after a broker frame.
    public enum InboundAction: Sendable {
        /// The handshake finished; limits and identity are in the WELCOME.
        case welcome(Frame.Welcome)
        /// Answer a PING.
        case sendPong(UInt64)
        /// Nothing to do (PONG, accepted state change).
        case none
        /// The upload window grew; resume waiting uploads.
        case windowOpened
        /// READY for an upload: send from this offset.
        case ready(requestID: UInt32, offset: UInt64)
        /// ACCEPTED: the upload request is finished.
        case accepted(requestID: UInt32, SignedReceipt)
        /// A delivery starts on a FETCH or subscription.
        case deliveryBegan(requestID: UInt32, Frame.DeliverBegin)
        /// Payload bytes of the current delivery (contiguity already checked).
        case deliveryChunk(requestID: UInt32, ByteBuffer)
        /// The current delivery is complete (all bytes received).
        case deliveryEnded(requestID: UInt32, MessageID)
        /// FETCH_DONE: the fetch request is finished.
        case fetchDone(requestID: UInt32, Frame.FetchDone)
        /// RECEIPT answering an ACK: the ack request is finished.
        case acknowledged(requestID: UInt32, SignedReceipt)
        /// RECEIPT pushed on the subscription.
        case receiptEvent(requestID: UInt32, SignedReceipt)
        /// The signed `rejected` receipt of an upload; its ERROR follows (SPEC.md §4.4.21).
        case rejectedReceipt(requestID: UInt32, SignedReceipt)
        /// One ROUTING_SLIP frame; `finished` when `more` was false.
        case routingSlip(requestID: UInt32, Frame.RoutingSlip, finished: Bool)
        /// DIRECTORY_ANSWER: the directory request is finished (signature not yet verified).
        case directoryAnswer(requestID: UInt32, Frame.DirectoryAnswer)
        /// ERROR for one request: that request is finished, the connection stays up.
        case requestFailed(requestID: UInt32, KlammerClientError)
        /// ERROR for a request id no longer in flight (e.g. a NACK, which has no success answer): report only.
        case lateError(Frame.ErrorFrame)
        /// GOAWAY: requests above `lastRequestID` failed (retry them on a new connection); no new requests.
        case goAway(Frame.GoAway, abandoned: [UInt32])
        /// Fatal: fail everything, optionally send ERROR(0), close.
        case closeConnection(KlammerClientError, sendError: Frame.ErrorFrame?)
    }

    /// The current phase.
    public private(set) var phase: Phase = .awaitingWelcome
    /// The broker's WELCOME, once received.
    public private(set) var welcome: Frame.Welcome?
    /// Requests in flight by id.
    public private(set) var requests: [UInt32: RequestKind] = [:]
    /// Upload bytes the client may still send (SPEC.md §4.6).
    public private(set) var window = FlowControlWindow(initial: 0)
    /// The delivery being received: its request, message and payload position.
    public private(set) var delivery: (requestID: UInt32, messageID: MessageID, cursor: PayloadCursor)?
    /// Highest request id used so far (for GOAWAY).
    public private(set) var lastRequestID: UInt32 = 0
    private var nextRequestID: UInt32 = 1

    /// Creates the machine for a new connection (HELLO is being sent).
    public init() {}

    // MARK: Requests

    /// Allocates a fresh non-zero request id not in flight; fails unless the connection is open.
    public mutating func startRequest(_ kind: RequestKind) throws(KlammerClientError) -> UInt32 {
        guard phase == .open else {
            throw KlammerClientError(
                .connectionClosed,
                "the connection is \(phase == .awaitingWelcome ? "not ready yet" : "closing"); open a new connection and retry")
        }
        if kind == .subscription, requests.values.contains(.subscription) {
            throw KlammerClientError(.invalidArgument, "this connection already has a subscription (one per connection, SPEC.md §4.4.13)")
        }
        var id = nextRequestID
        while id == 0 || requests[id] != nil { id &+= 1 }
        nextRequestID = id &+ 1
        requests[id] = kind
        lastRequestID = id
        return id
    }

    /// Allocates an id for a request that has no success answer (NACK): never registered as in flight.
    public mutating func oneShotRequestID() throws(KlammerClientError) -> UInt32 {
        guard phase == .open || phase == .draining else {
            throw KlammerClientError(.connectionClosed, "the connection is closed; open a new connection and retry")
        }
        var id = nextRequestID
        while id == 0 || requests[id] != nil { id &+= 1 }
        nextRequestID = id &+ 1
        lastRequestID = id
        return id
    }

    /// Forgets a request (the caller gave up on it, e.g. a cancelled fetch after FETCH_DONE will never be awaited).
    public mutating func finishRequest(_ id: UInt32) {
        requests[id] = nil
    }

    /// Accounts for a CHUNK of `count` bytes; false if the window is too small (wait for WINDOW_UPDATE).
    public mutating func consumeWindow(_ count: Int) -> Bool {
        (try? window.consume(count)) != nil
    }

    /// The client starts a graceful close: the GOAWAY frame to send (nil if already closing).
    public mutating func beginClose() -> Frame.GoAway? {
        switch phase {
        case .open, .awaitingWelcome:
            phase = .draining
            return Frame.GoAway(lastRequestID: lastRequestID, code: ErrorCode(rawValue: 0), message: "client closing")
        case .draining, .closed:
            return nil
        }
    }

    /// The transport is gone.
    public mutating func closed() {
        phase = .closed
        requests = [:]
        delivery = nil
    }

    /// Whether requests other than the subscription are still running (a draining connection closes when this becomes
    /// false; a subscription lives until the connection closes, SPEC.md §4.4.13, so it never holds a close up).
    public var hasRequestsInFlight: Bool { requests.values.contains { $0 != .subscription } }

    // MARK: Inbound

    /// Applies one frame from the broker.
    public mutating func receive(_ frame: Frame) -> InboundAction {
        if phase == .closed { return .none }
        let legal: Bool
        switch phase {
        case .awaitingWelcome: legal = ConnectionPhase.awaitingHello.allows(frame.type, from: .server)
        case .open: legal = ConnectionPhase.open.allows(frame.type, from: .server)
        // The broker may still answer our open requests and GOAWAY/ERROR while we drain.
        case .draining: legal = ConnectionPhase.open.allows(frame.type, from: .server)
        case .closed: legal = false
        }
        guard legal else {
            return fail(
                ProtocolError(
                    .unexpectedFrame, "\(frame.type) is not allowed from the broker \(phase == .awaitingWelcome ? "before WELCOME" : "now")"
                ))
        }
        switch frame {
        case .welcome(let w):
            welcome = w
            window = FlowControlWindow(initial: w.initialWindowSize)
            phase = .open
            return .welcome(w)
        case .error(let e):
            if e.requestID == 0 {
                phase = .closed
                return .closeConnection(.connectionError(e), sendError: nil)
            }
            guard requests.removeValue(forKey: e.requestID) != nil else { return .lateError(e) }
            if delivery?.requestID == e.requestID { delivery = nil }
            return .requestFailed(requestID: e.requestID, .broker(e))
        case .ping(let p):
            return .sendPong(p.data)
        case .pong:
            return .none
        case .goAway(let g):
            phase = .draining
            let abandoned = requests.keys.filter { $0 > g.lastRequestID }.sorted()
            for id in abandoned { requests[id] = nil }
            return .goAway(g, abandoned: abandoned)
        case .windowUpdate(let w):
            do { try window.grant(w.increment) } catch let e as ProtocolError { return fail(e) } catch {
                return fail(ProtocolError(.flowControlViolation, "\(error)"))
            }
            return .windowOpened
        case .ready(let r):
            guard requests[r.requestID] == .upload else { return unknown(frame) }
            return .ready(requestID: r.requestID, offset: r.offset)
        case .accepted(let a):
            guard requests[a.requestID] == .upload else { return unknown(frame) }
            requests[a.requestID] = nil
            return .accepted(requestID: a.requestID, a.receipt)
        case .deliverBegin(let d):
            guard let kind = requests[d.requestID], kind == .fetch || kind == .subscription else { return unknown(frame) }
            guard delivery == nil else {
                return fail(
                    ProtocolError(
                        .unexpectedFrame,
                        "DELIVER_BEGIN while message \(delivery!.messageID) is still being delivered (deliveries must not interleave)"))
            }
            do {
                let cursor = try PayloadCursor(length: d.storedEnvelope.envelope.payloadLength, startingAt: d.offset)
                delivery = (d.requestID, d.storedEnvelope.messageID, cursor)
            } catch let e as ProtocolError { return fail(e) } catch { return fail(ProtocolError(.invalidValue, "\(error)")) }
            return .deliveryBegan(requestID: d.requestID, d)
        case .deliverChunk(let c):
            guard var current = delivery, current.requestID == c.requestID, current.messageID == c.messageID else {
                return fail(ProtocolError(.unexpectedFrame, "DELIVER_CHUNK for message \(c.messageID) without its DELIVER_BEGIN"))
            }
            do { try current.cursor.accept(offset: c.offset, count: c.data.readableBytes) } catch let e as ProtocolError {
                return fail(e)
            } catch { return fail(ProtocolError(.invalidValue, "\(error)")) }
            delivery = current
            return .deliveryChunk(requestID: c.requestID, c.data)
        case .deliverEnd(let e):
            guard let current = delivery, current.requestID == e.requestID, current.messageID == e.messageID else {
                return fail(ProtocolError(.unexpectedFrame, "DELIVER_END for message \(e.messageID) without its DELIVER_BEGIN"))
            }
            do { try current.cursor.finish() } catch let e as ProtocolError { return fail(e) } catch {
                return fail(ProtocolError(.invalidValue, "\(error)"))
            }
            delivery = nil
            return .deliveryEnded(requestID: e.requestID, e.messageID)
        case .fetchDone(let d):
            guard requests[d.requestID] == .fetch else { return unknown(frame) }
            guard delivery?.requestID != d.requestID else {
                return fail(ProtocolError(.unexpectedFrame, "FETCH_DONE in the middle of a delivery"))
            }
            requests[d.requestID] = nil
            return .fetchDone(requestID: d.requestID, d)
        case .receipt(let r):
            switch requests[r.requestID] {
            case .acknowledge:
                requests[r.requestID] = nil
                return .acknowledged(requestID: r.requestID, r.receipt)
            case .subscription:
                return .receiptEvent(requestID: r.requestID, r.receipt)
            case .upload where r.receipt.receipt.kind == .rejected:
                // The request stays open: the broker's ERROR for it follows at once.
                return .rejectedReceipt(requestID: r.requestID, r.receipt)
            default:
                return unknown(frame)
            }
        case .routingSlip(let s):
            guard requests[s.requestID] == .status else { return unknown(frame) }
            if !s.more { requests[s.requestID] = nil }
            return .routingSlip(requestID: s.requestID, s, finished: !s.more)
        case .directoryAnswer(let answer):
            guard requests[answer.requestID] == .directory else { return unknown(frame) }
            requests[answer.requestID] = nil
            return .directoryAnswer(requestID: answer.requestID, answer)
        case .hello, .sendBegin, .chunk, .sendEnd, .fetch, .subscribe, .credit, .ack, .nack, .statusRequest, .directoryLookup:
            return fail(ProtocolError(.unexpectedFrame, "\(frame.type) is a client frame"))
        }
    }

    private mutating func unknown(_ frame: Frame) -> InboundAction {
        fail(ProtocolError(.unexpectedFrame, "\(frame.type) for request \(frame.requestID), which is not a matching request in flight"))
    }

    private mutating func fail(_ error: ProtocolError) -> InboundAction {
        phase = .closed
        return .closeConnection(.violation(error), sendError: Frame.ErrorFrame(error, requestID: 0))
    }

    /// The transport reported an error (TLS, decoding, reset): what to tell the broker, if it can still hear us.
    public mutating func transportFailed(_ error: any Error) -> InboundAction {
        phase = .closed
        if let p = error as? ProtocolError {
            return .closeConnection(.violation(p), sendError: Frame.ErrorFrame(p, requestID: 0))
        }
        return .closeConnection(KlammerClientError(.connectionFailed, "the connection failed: \(error)"), sendError: nil)
    }
}
