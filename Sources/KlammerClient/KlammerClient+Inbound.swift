import Foundation
import KlammerCrypto
import KlammerProtocol
import NIOCore

extension KlammerClient {
    /// Performs what the state machine decided for one inbound frame.
    func perform(_ action: ClientStateMachine.InboundAction) async {
        switch action {
        case .none:
            break
        case .welcome(let welcome):
            welcomeWaiter?.resume(returning: welcome)
            welcomeWaiter = nil
            startHeartbeat(intervalMillis: welcome.heartbeatIntervalMillis)
        case .sendPong(let data):
            try? await write(.pong(Frame.Ping(data: data)))
        case .windowOpened:
            let waiters = windowWaiters
            windowWaiters = []
            for w in waiters { w.resume() }
        case .ready(let id, let offset):
            uploads[id]?.yield(.ready(offset))
        case .accepted(let id, let receipt):
            uploads[id]?.yield(.accepted(receipt))
            uploads[id]?.finish()
            uploads[id] = nil
        case .deliveryBegan(let id, let begin):
            let messageID = begin.storedEnvelope.messageID
            if begin.offset > 0 {
                // Only the delivery this FETCH asked to resume may start later, and only where we asked.
                guard let resume = fetches[id]?.resume, resume.messageID == messageID, resume.offset == begin.offset else {
                    await closeWithViolation(
                        ProtocolError(
                            .invalidValue,
                            "DELIVER_BEGIN of \(messageID) at offset \(begin.offset) although that was not the requested resume point"))
                    return
                }
            }
            if fetches[id]?.resume?.messageID == messageID { fetches[id]?.resumeBegun = true }
            let options = fetches[id]?.options ?? subscription?.options ?? ReceiveOptions(payloadStorage: .memory(maxBytes: 0))
            let storage = options.payloadStorage
            delivery = DeliveryInProgress(
                begin: begin,
                sink: PayloadSink(
                    messageID: messageID, declaredLength: begin.storedEnvelope.envelope.payloadLength,
                    storage: storage, offset: begin.offset),
                progress: options.progress)
            if begin.offset > 0 { delivery?.progress?(messageID, begin.offset, begin.storedEnvelope.envelope.payloadLength) }
        case .deliveryChunk(_, let data):
            if let current = delivery {
                current.sink.write(data)
                current.progress?(
                    current.begin.storedEnvelope.messageID, current.sink.length, current.begin.storedEnvelope.envelope.payloadLength)
            }
        case .deliveryEnded(let id, _):
            guard let current = delivery else { return }
            delivery = nil
            await completeDelivery(requestID: id, current)
        case .fetchDone(let id, let done):
            if let fetch = fetches[id], let resume = fetch.resume, !fetch.resumeBegun,
                case .directory(let directory) = fetch.options.payloadStorage
            {
                // The broker could not resume it (acknowledged elsewhere, expired, delayed): it would start at 0
                // next time anyway, so the part file only stands in the way of the next resume point.
                try? FileManager.default.removeItem(
                    atPath: (directory as NSString).appendingPathComponent(resume.messageID.hex + PayloadSink.partSuffix))
            }
            fetches[id]?.continuation.yield(.done(delivered: Int(done.delivered), moreAvailable: done.moreAvailable))
            fetches[id]?.continuation.finish()
            fetches[id] = nil
        case .acknowledged(let id, let receipt):
            acknowledgements.removeValue(forKey: id)?.resume(returning: receipt)
        case .receiptEvent(_, let receipt):
            subscription?.receipts?.yield(receipt)
        case .routingSlip(let id, let slip, let finished):
            guard var context = statuses[id] else { break }
            context.receipts += slip.receipts
            if context.receipts.count > Self.maxRoutingSlipReceipts {
                statuses[id] = nil
                context.continuation.resume(
                    throwing: KlammerClientError(
                        .protocolViolation, code: .limitExceeded, "the routing slip has more than \(Self.maxRoutingSlipReceipts) receipts"))
                machine.finishRequest(id)
            } else if finished {
                statuses[id] = nil
                context.continuation.resume(returning: context.receipts)
            } else {
                statuses[id] = context
            }
        case .rejectedReceipt(let id, let receipt):
            if uploads[id] != nil { rejectedReceipts[id] = receipt }
        case .directoryAnswer(let id, let answer):
            directoryLookups.removeValue(forKey: id)?.resume(returning: answer)
        case .requestFailed(let id, var error):
            if let receipt = rejectedReceipts.removeValue(forKey: id) { error.rejectedReceipt = receipt }
            failRequest(id, error)
        case .lateError(let frame):
            logger.warning(
                "broker error for a finished request",
                metadata: ["request": "\(frame.requestID)", "code": "\(frame.code)", "message": "\(frame.message)"])
        case .goAway(let goAway, let abandoned):
            let error = KlammerClientError(
                .connectionClosed, code: goAway.code.rawValue == 0 ? nil : goAway.code,
                "the broker is closing the connection (\(goAway.message)); this request was not processed — retry it on a new connection")
            for id in abandoned { failRequest(id, error) }
        case .closeConnection(let error, let sendError):
            if let sendError { try? await write(.error(sendError)) }
            failAll(error)
        }
        closeIfDrained()
    }

    func closeWithViolation(_ error: ProtocolError) async {
        _ = machine.transportFailed(error)
        try? await write(.error(Frame.ErrorFrame(error, requestID: 0)))
        failAll(.violation(error))
    }

    /// The application stopped consuming a fetch: its remaining deliveries are NACKed instead of kept.
    func fetchAbandoned(_ id: UInt32) {
        fetches[id]?.failed = true
    }

    /// Ends whatever waits on request `id` with `error`.
    func failRequest(_ id: UInt32, _ error: KlammerClientError) {
        rejectedReceipts[id] = nil
        if let upload = uploads.removeValue(forKey: id) {
            upload.finish(throwing: error)
            // An upload waiting for window re-checks and sees its request is gone.
            let waiters = windowWaiters
            windowWaiters = []
            for w in waiters { w.resume() }
        }
        if let fetch = fetches.removeValue(forKey: id) { fetch.continuation.finish(throwing: error) }
        if let ack = acknowledgements.removeValue(forKey: id) { ack.resume(throwing: error) }
        if let status = statuses.removeValue(forKey: id) { status.continuation.resume(throwing: error) }
        if let lookup = directoryLookups.removeValue(forKey: id) { lookup.resume(throwing: error) }
        if let sub = subscription, sub.requestID == id {
            sub.messages?.finish(throwing: error)
            sub.receipts?.finish()
            subscription = nil
        }
        if let current = delivery, current.begin.requestID == id {
            current.sink.discard()
            delivery = nil
        }
    }

    /// A complete delivery: verify, hand to the fetch or subscription, or NACK it if it could not be kept.
    func completeDelivery(requestID id: UInt32, _ current: DeliveryInProgress) async {
        let begin = current.begin
        let (payload, digest, length) = current.sink.finish()
        let streamFailed = fetches[id]?.failed ?? subscription?.failed ?? true
        if let failure = current.sink.failure {
            current.sink.discard()
            // The message stays with the broker: ask for redelivery and tell the consumer why it was not kept.
            try? await nack(begin.storedEnvelope.messageID, retryAfterMillis: 0)
            if var fetch = fetches[id], !fetch.failed {
                fetch.failed = true
                fetch.continuation.finish(throwing: failure)
                fetches[id] = fetch
            } else if var sub = subscription, sub.requestID == id, !sub.failed {
                sub.failed = true
                sub.messages?.finish(throwing: failure)
                subscription = sub
            }
            return
        }
        if streamFailed {
            current.sink.discard()
            try? await nack(begin.storedEnvelope.messageID, retryAfterMillis: 0)
            return
        }
        let verificationError = verify(begin: begin, payloadLength: length, payloadDigest: digest)
        let message = ReceivedMessage(
            stored: begin.storedEnvelope, signature: begin.senderSignature, senderCertificateDER: begin.senderCertificate,
            payload: payload, payloadDigest: digest, payloadLength: length, verificationError: verificationError,
            resumedAt: begin.offset)
        if var fetch = fetches[id] {
            fetch.delivered += 1
            fetch.continuation.yield(.message(message))
            fetches[id] = fetch
        } else if let sub = subscription, sub.requestID == id {
            sub.messages?.yield(message)
        }
    }

    func verify(begin: Frame.DeliverBegin, payloadLength: UInt64, payloadDigest: SHA256Digest) -> KlammerClientError? {
        let envelope = begin.storedEnvelope.envelope
        do {
            let certificate: Certificate
            do { certificate = try Certificate(der: begin.senderCertificate) } catch {
                throw KlammerClientError(.verificationFailed, "the delivered sender certificate does not parse: \(error)")
            }
            // The acceptance time comes from the TLS-authenticated broker (and its `accepted` receipt binds it): the
            // certificate must have been valid when the broker accepted the message, not still at delivery (SPEC.md §5.10).
            let acceptedAt = Date(timeIntervalSince1970: Double(begin.storedEnvelope.acceptedAtMillis) / 1000)
            try MessageVerifier.verifySignature(
                envelope: envelope, signature: begin.senderSignature,
                senderCertificate: certificate, trustStore: credentials.trustStore,
                signedAt: acceptedAt, at: now())
            try MessageVerifier.verifyPayload(envelope: envelope, length: payloadLength, digest: payloadDigest)
            return nil
        } catch let error as KlammerClientError {
            return error
        } catch {
            return KlammerClientError(.verificationFailed, "\(error)")
        }
    }
}
