public import KlammerProtocol
import KlammerCrypto
import KlammerStore

/// One message upload in progress, created by ``Broker/beginSubmission(from:envelopeBytes:)`` after the envelope
/// checks passed. Receives the payload chunk by chunk: hashes it (streaming SHA-256) and keeps it in memory up to
/// `maxInlinePayload`, beyond that in a store blob under `blobs/tmp` (memory stays bounded by one chunk).
/// Not thread-safe: use it from the connection's task only. If it is dropped or refused, the upload is discarded.
public final class PayloadSubmission {
    /// The checked envelope.
    public let envelope: Envelope
    /// The participant on the connection (registry version at submission start).
    public let participant: Participant
    /// The signature form SEND_BEGIN announced.
    public let signatureForm: SignatureForm
    /// Bytes received so far (the next expected CHUNK offset).
    public private(set) var receivedBytes: UInt64 = 0

    let hasher = SHA256.Hasher()
    var inline: [UInt8] = []
    var blob: BlobWriter?
    var finished = false
    let maxInline: Int
    let store: KlammerStore

    init(envelope: Envelope, participant: Participant, signatureForm: SignatureForm, maxInline: Int, store: KlammerStore) {
        self.envelope = envelope
        self.signatureForm = signatureForm
        self.participant = participant
        self.maxInline = maxInline
        self.store = store
    }

    deinit { blob?.abort() }

    /// Appends the next payload chunk (in order).
    /// - Throws: LENGTH_MISMATCH if the payload grows past the envelope's declared length, LIMIT_EXCEEDED for a chunk
    ///   (chunk sizes are the frame layer's business), STORAGE_FULL/STORAGE_UNAVAILABLE on disk errors.
    ///   After a throw the submission is dead: discard it.
    public func append(_ chunk: [UInt8]) throws {
        guard !finished else {
            throw ProtocolError(.unexpectedFrame, "payload chunk after the submission was finished or refused; start a new submission")
        }
        guard UInt64(chunk.count) <= envelope.payloadLength &- receivedBytes, receivedBytes <= envelope.payloadLength else {
            abort()
            throw ProtocolError(
                .lengthMismatch,
                "payload exceeds the \(envelope.payloadLength) bytes declared in the envelope; send exactly the signed document")
        }
        hasher.update(chunk)
        receivedBytes += UInt64(chunk.count)
        do {
            if let blob {
                try blob.write(chunk)
            } else if inline.count + chunk.count <= maxInline {
                inline.append(contentsOf: chunk)
            } else {
                let writer = try store.beginBlob()
                blob = writer
                try writer.write(inline)
                inline = []
                try writer.write(chunk)
            }
        } catch {
            abort()
            throw Broker.storageRefusal(error, doing: "storing the payload")
        }
    }

    /// Appends a CHUNK whose `offset` must equal ``receivedBytes`` (else CHUNK_OFFSET_MISMATCH; the submission stays
    /// usable). Otherwise as ``append(_:)``.
    public func append(_ chunk: [UInt8], at offset: UInt64) throws {
        guard offset == receivedBytes else {
            throw ProtocolError(
                .chunkOffsetMismatch,
                "chunk offset \(offset) is not the next expected offset \(receivedBytes); send the payload contiguously")
        }
        try append(chunk)
    }

    /// Makes the received payload durable before its length is reported to a resuming sender (SPEC.md §4.8): the blob
    /// part file is fdatasync'ed; a payload still below `maxInlinePayload` lives in memory, which is what a parked
    /// upload is anyway (a broker restart discards parked uploads, and the sender starts again at 0).
    /// - Throws: STORAGE_UNAVAILABLE / STORAGE_FULL; the submission is dead then.
    public func makeDurable() throws {
        guard !finished else {
            throw ProtocolError(.unexpectedFrame, "the upload was finished or refused; start a new submission")
        }
        guard let blob else { return }
        do { try blob.sync() } catch {
            abort()
            throw Broker.storageRefusal(error, doing: "syncing the partial payload")
        }
    }

    /// Discards the upload (blob part file deleted).
    public func abort() {
        finished = true
        blob?.abort()
        blob = nil
        inline = []
    }
}
