import Foundation
import KlammerCrypto
public import KlammerProtocol
import KlammerStore

extension Broker {
    /// Starts a submission: runs the checks that need only the envelope (SPEC.md §7.1, checks 1–5), in this order:
    /// 1. the connected participant is still registered and active (PARTICIPANT_SUSPENDED / PARTICIPANT_REVOKED);
    /// 2. the envelope parses strictly with the broker's limits (INVALID_ENVELOPE, UNSUPPORTED_VERSION, INVALID_UTF8,
    ///    TRAILING_BYTES, MALFORMED_FRAME, TOO_MANY_RECIPIENTS, MESSAGE_TOO_LARGE …);
    /// 3. envelope sender == connected participant (IMPERSONATION);
    /// 4. every recipient is registered and active (UNKNOWN_RECIPIENT);
    /// 5. the sender's routing policy permits every recipient (NOT_PERMITTED);
    /// 6. de-duplication on (sender, client message id) within `dedupeWindow`: the same envelope → `.duplicate` with
    ///    the original receipt; a different envelope → INVALID_ENVELOPE;
    /// 7. `created at` within `maxEnvelopeAge` before and `maxClockSkew` after the broker clock, time to live at most
    ///    `maxTimeToLive` (TIME_OUT_OF_RANGE; after de-duplication, so a retry of an accepted message still gets its receipt);
    /// 8. a new upload must leave `freeSpaceReserveBytes` free (STORAGE_FULL, retryable; a duplicate needs no space).
    /// Nothing is stored by a refusal. `signatureForm` is the form SEND_BEGIN announced; SEND_END must match it.
    public func beginSubmission(
        from participant: Participant, envelopeBytes: [UInt8],
        signatureForm: SignatureForm = .single
    ) throws -> SubmissionStart {
        let (sender, senderID) = try currentActive(participant)
        guard envelopeBytes.count <= Int(configuration.limits.maxFrameSize) else {
            throw ProtocolError(
                .limitExceeded, "the envelope has \(envelopeBytes.count) bytes, more than \(configuration.limits.maxFrameSize)")
        }
        let envelope = try Envelope(parsingCanonical: envelopeBytes, limits: configuration.limits)
        guard envelope.sender == senderID else {
            throw ProtocolError(
                .impersonation,
                "the envelope names sender \(envelope.sender) but this connection is authenticated as \(senderID); a participant may only send in its own name"
            )
        }
        for recipient in envelope.recipients {
            guard let r = registry.participant(id: recipient.rawValue) else {
                throw ProtocolError(.unknownRecipient, "recipient \(recipient) is not registered at this broker; check the participant id")
            }
            guard r.isActive else {
                throw ProtocolError(.unknownRecipient, "recipient \(recipient) is \(r.status.rawValue) and cannot receive messages")
            }
            guard sender.policy.permits(recipient.rawValue) else {
                throw ProtocolError(
                    .notPermitted,
                    "the routing policy of \(senderID) does not allow sending to \(recipient); ask the broker operator to extend the policy"
                )
            }
            let limit = configuration.maxQueuedMessagesPerRecipient
            if limit > 0, case let queued = store.queuedCount(recipient: recipient.rawValue), queued >= limit {
                throw ProtocolError(
                    .quotaExceeded,
                    "recipient \(recipient) has \(queued) messages queued (limit \(limit), store.max_queued_messages_per_recipient); retry when it has fetched them"
                )
            }
        }
        if let original = try acceptedReceipt(sender: envelope.sender, clientMessageID: envelope.clientMessageID) {
            guard original.receipt.envelopeDigest == envelope.digest(sha256: SHA256.hash) else {
                throw ProtocolError(
                    .invalidEnvelope,
                    "client message id \(envelope.clientMessageID) was already used for a different envelope (message \(original.receipt.messageID)); use a new client message id"
                )
            }
            return .duplicate(original)
        }
        try checkTimes(of: envelope)
        try checkFreeSpace(for: envelope.payloadLength)
        return .upload(
            PayloadSubmission(
                envelope: envelope, participant: sender, signatureForm: signatureForm,
                maxInline: configuration.maxInlinePayload, store: store))
    }

    /// SPEC.md §7.1 check 5a: the sender's clock and the requested lifetime must be plausible.
    func checkTimes(of envelope: Envelope) throws {
        let now = configuration.nowMillis
        let skew = configuration.maxClockSkew.milliseconds, age = configuration.maxEnvelopeAge.milliseconds
        if envelope.createdAtMillis > now &+ skew {
            throw ProtocolError(
                .timeOutOfRange,
                "the envelope's created at (\(envelope.createdAtMillis) ms) is \((envelope.createdAtMillis - now) / 1000) s ahead of the broker clock (\(now) ms); at most \(skew / 1000) s are accepted — check the sender's clock (NTP)"
            )
        }
        if now > age, envelope.createdAtMillis < now - age {
            throw ProtocolError(
                .timeOutOfRange,
                "the envelope's created at (\(envelope.createdAtMillis) ms) is \((now - envelope.createdAtMillis) / 1000) s before the broker clock (\(now) ms); at most \(age / 1000) s are accepted — sign the message anew (a new envelope with the current time), or check the sender's clock"
            )
        }
        if let ttl = envelope.timeToLiveSeconds, UInt64(ttl) * 1000 > configuration.maxTimeToLive.milliseconds {
            throw ProtocolError(
                .timeOutOfRange,
                "the envelope's time to live of \(ttl) s is above this broker's maximum of \(configuration.maxTimeToLive.milliseconds / 1000) s; ask for a shorter one (or none)"
            )
        }
    }

    /// The recorded `accepted` receipt for (sender, client message id) if it is still inside the dedupe window.
    func acceptedReceipt(sender: ParticipantID, clientMessageID: String) throws -> SignedReceipt? {
        guard let id = receiptLog.messageID(sender: sender, clientMessageID: clientMessageID),
            let acceptedAt = receiptLog.acceptedAtMillis(of: id),
            acceptedAt &+ configuration.dedupeWindow.milliseconds > configuration.nowMillis
        else { return nil }
        return try receiptLog.acceptedReceipt(of: id)
    }

    /// Finishes a submission with the sender's signature (§5.5: single — detached CMS over the canonical envelope
    /// bytes — or batch — CMS over the batch root statement plus this envelope's inclusion proof)
    /// (SPEC.md §7.1, checks 7–12): payload length, signer is a registered certificate of the sender
    /// (CERTIFICATE_NOT_REGISTERED), the signature verifies (SIGNATURE_MISSING / SIGNATURE_INVALID), the payload's
    /// SHA-256 equals the envelope's (DIGEST_MISMATCH). Then it assigns a message id, signs the `accepted` receipt,
    /// appends the message with that receipt as its dedupe outcome, waits for durability, records the receipt in the
    /// routing slip and returns it. A duplicate (same sender and client message id, same envelope) returns the
    /// original receipt byte for byte and stores nothing; a different envelope under a used client message id is
    /// INVALID_ENVELOPE.
    public func finishSubmission(_ submission: PayloadSubmission, signature: SenderSignature) async throws -> SignedReceipt {
        guard !submission.finished else {
            throw ProtocolError(.unexpectedFrame, "this submission was already finished or refused; start a new one")
        }
        do {
            return try await finish(submission, signature: signature)
        } catch {
            submission.abort()
            throw error
        }
    }

    /// Single-form convenience: `signature` is a detached CMS over the canonical envelope bytes.
    public func finishSubmission(_ submission: PayloadSubmission, signature: [UInt8]) async throws -> SignedReceipt {
        try await finishSubmission(submission, signature: .single(cms: signature))
    }

    private func finish(_ submission: PayloadSubmission, signature: SenderSignature) async throws -> SignedReceipt {
        let envelope = submission.envelope
        // The participant may have been suspended while the payload streamed in.
        let (sender, _) = try currentActive(submission.participant)
        guard submission.receivedBytes == envelope.payloadLength else {
            throw ProtocolError(
                .lengthMismatch,
                "received \(submission.receivedBytes) payload bytes, the envelope declares \(envelope.payloadLength); send the complete document"
            )
        }
        guard signature.form == submission.signatureForm else {
            throw ProtocolError(
                .signatureFormMismatch,
                "SEND_BEGIN announced the \(submission.signatureForm) signature form but SEND_END carries \(signature.form); use the announced form"
            )
        }
        let content = try signature.signedContent(of: envelope, sha256: SHA256.hash)
        let certificate = try verifySenderSignature(signature, content: content, by: sender)
        let digest = submission.hasher.finalize()
        guard digest == envelope.payloadDigest.bytes else {
            throw ProtocolError(
                .digestMismatch,
                "the payload's SHA-256 does not equal the digest in the signed envelope; the document was changed after signing or corrupted in transit"
            )
        }

        // A concurrent upload with the same client message id may have been accepted meanwhile: answer with its
        // receipt without finishing (and orphaning) this blob. The store's de-duplication below stays authoritative.
        if let original = try acceptedReceipt(sender: envelope.sender, clientMessageID: envelope.clientMessageID) {
            guard original.receipt.envelopeDigest == envelope.digest(sha256: SHA256.hash) else {
                throw ProtocolError(
                    .invalidEnvelope,
                    "client message id \(envelope.clientMessageID) was already used for a different envelope (message \(original.receipt.messageID)); use a new client message id"
                )
            }
            submission.abort()
            return original
        }
        let payload: MessagePayload
        if let blob = submission.blob {
            do { payload = .blob(try blob.finish()) } catch {
                throw Broker.storageRefusal(error, doing: "finishing the payload blob")
            }
            submission.blob = nil
        } else {
            payload = .inline(submission.inline)
        }
        submission.finished = true

        let acceptedAt = configuration.nowMillis
        let stored = StoredMessage(
            stored: StoredEnvelope(messageID: .random(), acceptedAtMillis: acceptedAt, envelope: envelope),
            senderSignature: signature, senderCertificateDER: certificate.derBytes)
        let envelopeDigest = stored.envelopeDigest
        let receipt = try Receipt(
            kind: .accepted, messageID: stored.stored.messageID, envelopeDigest: envelopeDigest,
            sender: envelope.sender, recipient: nil, timestampMillis: acceptedAt,
            brokerID: configuration.brokerID)
        let signed = try sign(receipt)
        let record = MessageRecord(
            sender: envelope.sender.rawValue, clientMessageID: envelope.clientMessageID,
            recipients: envelope.recipients.map(\.rawValue), envelope: stored.encoded, payload: payload,
            expiresAt: stored.stored.expiresAtMillis.map { Date(timeIntervalSince1970: Double($0) / 1000) },
            outcome: signed.encodedBytes)
        let result: AppendResult
        do { result = try await store.append(record) } catch {
            throw Broker.storageRefusal(error, doing: "storing the message")
        }
        switch result {
        case .stored(let storeID, _):
            try await recordReceipt(signed, storeID: storeID, clientMessageID: envelope.clientMessageID, recipients: envelope.recipients)
            return signed
        case .duplicate(let storeID, let outcome):
            let original: SignedReceipt
            do { original = try SignedReceipt(parsing: outcome, limits: configuration.limits) } catch {
                throw ProtocolError(
                    .internalError, "the stored receipt of the original message cannot be parsed (\(error)); run `klammerctl store scrub`")
            }
            guard original.receipt.envelopeDigest == envelopeDigest else {
                throw ProtocolError(
                    .invalidEnvelope,
                    "client message id \(envelope.clientMessageID) was already used for a different envelope (message \(original.receipt.messageID)); use a new client message id"
                )
            }
            // The original may predate a crash between store append and receipt log: record it if missing.
            try await recordReceipt(original, storeID: storeID, clientMessageID: envelope.clientMessageID, recipients: envelope.recipients)
            return original
        }
    }
}
