import Foundation
import KlammerCrypto
public import KlammerProtocol
import NIOCore

extension KlammerClient {
    /// Progress of an upload: bytes sent so far (including a resumed prefix) and the payload length. Called once
    /// with the broker's READY offset before the first CHUNK (> 0 when a cut upload resumes), then after each CHUNK.
    public typealias Progress = @Sendable (_ sent: UInt64, _ total: UInt64) -> Void

    /// Prepares (hashes the payload, builds and signs the envelope) and sends one message; returns the broker's
    /// signed `accepted` receipt. To retry safely after a failure, use ``PreparedMessage/prepare(credentials:sender:recipients:subject:contentType:payload:clientMessageID:timeToLiveSeconds:conversationID:inReplyTo:createdAt:)``
    /// and ``send(_:progress:)`` with the same prepared message.
    public func send(
        to recipients: [ParticipantID], subject: String = "", contentType: String = "application/octet-stream",
        payload: PayloadSource, clientMessageID: String? = nil, timeToLiveSeconds: UInt32? = nil,
        inReplyTo: MessageID? = nil, conversationID: MessageID? = nil, progress: Progress? = nil
    ) async throws(KlammerClientError) -> SignedReceipt {
        let prepared = try PreparedMessage.prepare(
            credentials: credentials, sender: participantID, recipients: recipients, subject: subject,
            contentType: contentType, payload: payload, clientMessageID: clientMessageID,
            timeToLiveSeconds: timeToLiveSeconds, conversationID: conversationID, inReplyTo: inReplyTo)
        return try await send(prepared, progress: progress)
    }

    /// Uploads a prepared message (SPEC.md §4.8): SEND_BEGIN, READY, CHUNKs within the window, SEND_END, ACCEPTED.
    /// A duplicate (already accepted) is answered with the original receipt without an upload; a partially stored
    /// upload resumes at the broker's offset. The receipt is checked to be an `accepted` receipt for this envelope.
    public func send(_ prepared: PreparedMessage, progress: Progress? = nil) async throws(KlammerClientError) -> SignedReceipt {
        try await send(prepared, progress: progress, checkingLimits: true)
    }

    /// `checkingLimits: false` skips the local check against WELCOME's limits, so tests can show the broker's own
    /// refusal.
    func send(_ prepared: PreparedMessage, progress: Progress?, checkingLimits: Bool) async throws(KlammerClientError) -> SignedReceipt {
        let welcome = try requireWelcome()
        if checkingLimits {
            do { try prepared.envelope.validate(against: welcome.brokerLimits) } catch let e as ProtocolError {
                throw KlammerClientError(.invalidArgument, code: e.code, "the broker's limits refuse this message: \(e.message)")
            } catch {
                throw KlammerClientError(.invalidArgument, "\(error)")
            }
        }
        if let participant = participantID, participant != prepared.envelope.sender {
            throw KlammerClientError(
                .invalidArgument, code: .impersonation,
                "the envelope names \(prepared.envelope.sender) as sender, but this connection is \(participant)")
        }
        let id = try machine.startRequest(.upload)
        let (events, continuation) = AsyncThrowingStream<UploadEvent, any Error>.makeStream()
        uploads[id] = continuation
        do {
            try await write(.sendBegin(Frame.SendBegin(requestID: id, signatureForm: prepared.signature.form, envelope: prepared.envelope)))
            for try await event in events {
                switch event {
                case .ready(let offset):
                    try await upload(prepared, requestID: id, from: offset, welcome: welcome, progress: progress)
                    // The request may have failed while we streamed; its ERROR then ends `events`.
                    if machine.requests[id] != nil {
                        try await write(.sendEnd(Frame.SendEnd(requestID: id, signature: prepared.signature)))
                    }
                case .accepted(let receipt):
                    try check(receipt, for: prepared)
                    return receipt
                }
            }
        } catch {
            let clientError =
                (error as? KlammerClientError)
                ?? (error is CancellationError
                    ? KlammerClientError(.invalidArgument, "the send was cancelled") : KlammerClientError(.connectionFailed, "\(error)"))
            await abandonUpload(id, because: clientError)
            throw clientError
        }
        if Task.isCancelled {
            let cancelled = KlammerClientError(
                .invalidArgument, "the send was cancelled; retry with the same prepared message to finish it")
            await abandonUpload(id, because: cancelled)
            throw cancelled
        }
        throw closeError
            ?? KlammerClientError(
                .connectionClosed, "the connection closed before the broker confirmed the message; retry with the same prepared message")
    }

    /// Forgets an upload that failed on our side; if the broker still has it open, tells it with ERROR(id) so it
    /// discards the partial payload (SPEC.md §9.3).
    func abandonUpload(_ id: UInt32, because error: KlammerClientError) async {
        let stillOpen = machine.requests[id] != nil
        machine.finishRequest(id)
        uploads[id] = nil
        if stillOpen, closeError == nil, error.kind != .brokerRefused {
            try? await write(
                .error(Frame.ErrorFrame(requestID: id, code: .lengthMismatch, message: "the client aborted the upload: \(error.message)")))
        }
        closeIfDrained()
    }

    /// Streams the payload from `offset` in CHUNKs, never beyond the upload window (SPEC.md §4.6).
    func upload(
        _ prepared: PreparedMessage, requestID id: UInt32, from offset: UInt64, welcome: Frame.Welcome,
        progress: Progress?
    ) async throws(KlammerClientError) {
        let total = prepared.envelope.payloadLength
        guard offset <= total else {
            throw KlammerClientError(
                .protocolViolation, code: .invalidValue, "the broker asked to resume at \(offset), beyond the payload length \(total)")
        }
        let maxChunk = max(1, Frame.maxChunkData(maxFrameSize: welcome.maxFrameSize, maxChunkSize: welcome.maxChunkSize))
        let reader = try prepared.payload.openReader(from: offset)
        var position = offset
        // The first report is the broker's READY offset: > 0 when it resumed a cut upload (SPEC.md §4.8).
        progress?(offset, total)
        while machine.requests[id] != nil, let block = try reader.next(maxChunk) {
            if Task.isCancelled {
                throw KlammerClientError(.invalidArgument, "the send was cancelled; retry with the same prepared message to finish it")
            }
            guard position + UInt64(block.count) <= total else {
                throw KlammerClientError(.fileError, "the payload grew after it was signed; prepare the message again")
            }
            var sent = 0
            while sent < block.count {
                let size = try await reserveWindow(upTo: block.count - sent, requestID: id)
                guard size > 0, machine.requests[id] != nil else { return }
                let data = ByteBuffer(bytes: block[sent..<(sent + size)])
                try await write(.chunk(Frame.Chunk(requestID: id, offset: position, data: data)))
                sent += size
                position += UInt64(size)
                progress?(position, total)
            }
        }
        if machine.requests[id] != nil, position != total {
            throw KlammerClientError(
                .fileError,
                "the payload has \(position) bytes but \(total) were signed; it changed after signing — prepare the message again")
        }
    }

    /// Takes up to `wanted` bytes of upload window, waiting for WINDOW_UPDATE while it is empty; 0 if the request
    /// ended meanwhile (its ERROR arrived).
    func reserveWindow(upTo wanted: Int, requestID id: UInt32) async throws(KlammerClientError) -> Int {
        while true {
            if let closeError { throw closeError }
            guard machine.requests[id] != nil else { return 0 }
            let available = Int(machine.window.available)
            if available > 0 {
                let size = min(wanted, available)
                _ = machine.consumeWindow(size)
                return size
            }
            do {
                try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in windowWaiters.append(c) }
            } catch let e as KlammerClientError {
                throw e
            } catch {
                throw KlammerClientError(.connectionFailed, "\(error)")
            }
        }
    }

    /// The ACCEPTED receipt must be an `accepted` receipt for exactly this envelope and sender.
    func check(_ receipt: SignedReceipt, for prepared: PreparedMessage) throws(KlammerClientError) {
        let r = receipt.receipt
        guard r.kind == .accepted, r.envelopeDigest == prepared.envelopeDigest, r.sender == prepared.envelope.sender else {
            throw KlammerClientError(
                .protocolViolation,
                "the broker confirmed a different message (\(r.kind) receipt for envelope \(r.envelopeDigest.hex), expected \(prepared.envelopeDigest.hex))"
            )
        }
    }
}
