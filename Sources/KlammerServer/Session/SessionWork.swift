import KlammerBroker
public import KlammerProtocol
public import NIOCore

/// Work the session hands to its request lane (one serial task per connection: uploads, ACK, NACK, status).
/// Every item produces exactly one ``RequestResult``.
public enum RequestWork: Sendable, Equatable {
    /// SEND_BEGIN: run the envelope checks (SPEC.md §7.1 checks 1–5).
    case begin(requestID: UInt32, form: SignatureForm, envelopeBytes: [UInt8])
    /// CHUNK: append to the upload.
    case chunk(requestID: UInt32, offset: UInt64, data: ByteBuffer)
    /// SEND_END: verify and store (checks 7–12), answer with the `accepted` receipt.
    case end(requestID: UInt32, signature: SenderSignature)
    /// The client cancelled the upload (ERROR with its request id) or it failed on the session's side.
    case abort(requestID: UInt32)
    /// ACK.
    case ack(requestID: UInt32, statement: [UInt8], signature: [UInt8])
    /// NACK.
    case nack(requestID: UInt32, messageID: MessageID, delayMillis: UInt32)
    /// STATUS_REQUEST.
    case status(requestID: UInt32, messageID: MessageID)
    /// DIRECTORY_LOOKUP.
    case directory(requestID: UInt32, participant: ParticipantID)
}

/// The request lane's answer to one ``RequestWork`` item.
public enum RequestResult: Sendable {
    /// The upload may start at `offset`: READY(offset) (> 0 when a parked upload is resumed).
    case ready(requestID: UInt32, offset: UInt64)
    /// Already accepted: ACCEPTED with the original receipt.
    case duplicate(requestID: UInt32, receipt: SignedReceipt)
    /// A CHUNK's bytes left the session's memory (stored, or discarded); `error` ends the upload.
    case chunkDone(requestID: UInt32, bytes: Int, error: ProtocolError?)
    /// Durably stored: ACCEPTED.
    case accepted(requestID: UInt32, receipt: SignedReceipt, recipients: [ParticipantID])
    /// The upload was discarded after an abort.
    case aborted(requestID: UInt32)
    /// Another connection resumed the upload and owns it now (SPEC.md §9.3). Not an answer to a work item.
    case lost(requestID: UInt32)
    /// The connection used up its refusal budget (``RefusalBudget``): close it with `error`. Not an answer to a work
    /// item.
    case refusalBudgetExhausted(error: ProtocolError)
    /// The ACK verified: RECEIPT with the `acknowledged` receipt.
    case acknowledged(requestID: UInt32, receipt: SignedReceipt)
    /// The NACK was applied (no answer on the wire).
    case nacked(requestID: UInt32, redeliverNow: Bool)
    /// The routing slip for STATUS_REQUEST.
    case slip(requestID: UInt32, messageID: MessageID, receipts: [SignedReceipt])
    /// The signed directory answer for DIRECTORY_LOOKUP.
    case directory(answer: Frame.DirectoryAnswer)
    /// The request failed: ERROR with its request id.
    case failed(requestID: UInt32, error: ProtocolError)
    /// A submission was refused after its envelope parsed (SPEC.md §7.1 checks 3–12): RECEIPT with the signed
    /// `rejected` receipt, then ERROR, both with the upload's request id. `chunkBytes`: the refused CHUNK's size
    /// (its bytes leave the session's memory, as with ``chunkDone(requestID:bytes:error:)``).
    case rejected(requestID: UInt32, error: ProtocolError, receipt: SignedReceipt, chunkBytes: Int?)
}

/// Work for the delivery lane (one serial task per connection, so deliveries are never interleaved, SPEC.md §4.5).
public enum DeliveryJob: Sendable, Equatable {
    /// FETCH: up to `max` deliveries, a resumable one first, then FETCH_DONE.
    case fetch(requestID: UInt32, max: Int, resume: Frame.ResumePoint?)
    /// One push round on the subscription: up to `max` deliveries (credits reserved by the session).
    case push(requestID: UInt32, max: Int)
}

/// The delivery lane's answer to one ``DeliveryJob``.
public enum DeliveryResult: Sendable {
    /// All deliveries of a FETCH were written: FETCH_DONE.
    case fetchFinished(requestID: UInt32, delivered: Int, moreAvailable: Bool)
    /// A FETCH failed after `delivered` deliveries: ERROR with its request id.
    case fetchFailed(requestID: UInt32, delivered: Int, error: ProtocolError)
    /// A push round ended; unused credits go back to the subscription.
    case pushFinished(requestID: UInt32, delivered: Int, requested: Int, error: ProtocolError?)
}

extension ProtocolError {
    /// Any error as the ProtocolError that goes on the wire (unexpected ones become INTERNAL_ERROR).
    static func from(_ error: any Error) -> ProtocolError {
        if let e = error as? ProtocolError { return e }
        return ProtocolError(.internalError, "unexpected broker failure: \(error)")
    }
}
