public import KlammerProtocol

extension Broker {
    /// Codes of SPEC.md §7.1 checks 3–12 (refusals after the envelope parsed) that earn a signed `rejected` receipt.
    /// Participant codes count only at check 7 (SEND_END), never at check 1: pass `atFinish`.
    static let rejectedReceiptCodes: Set<ErrorCode> = [
        .impersonation, .unknownRecipient, .notPermitted, .invalidEnvelope, .chunkOffsetMismatch, .lengthMismatch,
        .signatureFormMismatch, .signatureMissing, .signatureInvalid, .limitExceeded, .certificateNotRegistered,
        .digestMismatch, .certificateRevoked, .certificateExpired, .signatureProfileViolation, .timeOutOfRange
    ]
    static let participantCodes: Set<ErrorCode> = [.unknownParticipant, .participantSuspended, .participantRevoked]

    /// The all-zero message id of `rejected` receipts: a refused submission never becomes a message (SPEC.md §5.4.1).
    // 16 bytes is exactly a message id's length, so the initialiser cannot fail.
    public static let rejectedMessageID: MessageID = try! MessageID(bytes: [UInt8](repeating: 0, count: 16))

    /// A signed `rejected` receipt for a submission `participant` made with `envelope` and the broker refused with
    /// `refusal` (SPEC.md §7.1 checks 3–12, §7.5), or nil when none is due: the code is not one of those checks
    /// (protocol, resource and internal errors get none), the broker's signing budget is spent
    /// (`rejectedReceiptsPerSecond`), or signing failed.
    ///
    /// The receipt carries message id 0…0, the SHA-256 of the submitted canonical envelope, the authenticated
    /// participant as sender (so an IMPERSONATION receipt names who tried, not the victim), the recipient that caused
    /// an UNKNOWN_RECIPIENT / NOT_PERMITTED, and the code as reason. It is not recorded in the routing slip (no
    /// message exists); the audit log records the refusal.
    ///
    /// - Parameter atFinish: the refusal came from SEND_END (check 7 may refuse the participant itself).
    public func rejectedReceipt(
        for envelope: Envelope, participant: Participant, refusal: ProtocolError,
        atFinish: Bool = false
    ) -> SignedReceipt? {
        guard
            Self.rejectedReceiptCodes.contains(refusal.code)
                || (atFinish && Self.participantCodes.contains(refusal.code))
        else { return nil }
        guard let sender = try? ParticipantID(participant.id), takeRejectedReceiptToken() else { return nil }
        let recipient =
            refusal.code == .unknownRecipient || refusal.code == .notPermitted
            ? refusedRecipient(of: envelope, sender: participant, code: refusal.code) : nil
        do {
            let receipt = try Receipt(
                kind: .rejected, messageID: Self.rejectedMessageID,
                envelopeDigest: envelope.digest(sha256: BrokerHash.sha256), sender: sender,
                recipient: recipient, timestampMillis: configuration.nowMillis,
                brokerID: configuration.brokerID, reason: refusal.code)
            return try sign(receipt)
        } catch {
            logger.error("cannot sign a rejected receipt", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// As ``rejectedReceipt(for:participant:refusal:atFinish:)`` for a SEND_BEGIN refusal, from the raw envelope
    /// bytes: nil if they do not parse (check 2) or the refusal is check 1 (the participant).
    public func rejectedReceipt(
        forEnvelopeBytes bytes: [UInt8], participant: Participant,
        refusal: ProtocolError
    ) -> SignedReceipt? {
        guard Self.rejectedReceiptCodes.contains(refusal.code), bytes.count <= Int(configuration.limits.maxFrameSize),
            let envelope = try? Envelope(parsingCanonical: bytes, limits: configuration.limits)
        else { return nil }
        return rejectedReceipt(for: envelope, participant: participant, refusal: refusal)
    }

    /// The first recipient check 4 refuses, if its refusal is `code` (the registry may have changed meanwhile).
    func refusedRecipient(of envelope: Envelope, sender: Participant, code: ErrorCode) -> ParticipantID? {
        let policy = registry.participant(id: sender.id)?.policy ?? sender.policy
        for recipient in envelope.recipients {
            guard let r = registry.participant(id: recipient.rawValue), r.isActive else {
                return code == .unknownRecipient ? recipient : nil
            }
            guard policy.permits(recipient.rawValue) else { return code == .notPermitted ? recipient : nil }
        }
        return nil
    }

    /// One token of the rejected-receipt budget (a refilling bucket: `rejectedReceiptsPerSecond`, burst twice that),
    /// so a client flooding bad submissions cannot make the broker sign without bound.
    func takeRejectedReceiptToken() -> Bool {
        let rate = Double(configuration.rejectedReceiptsPerSecond)
        guard rate > 0 else { return false }
        let now = ContinuousClock.now
        return state.withLock { s in
            let capacity = 2 * rate
            if let last = s.rejectedReceiptRefill {
                let elapsed = last.duration(to: now)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                s.rejectedReceiptTokens = min(capacity, s.rejectedReceiptTokens + seconds * rate)
            } else {
                s.rejectedReceiptTokens = capacity
            }
            s.rejectedReceiptRefill = now
            guard s.rejectedReceiptTokens >= 1 else { return false }
            s.rejectedReceiptTokens -= 1
            return true
        }
    }
}
