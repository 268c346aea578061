public import KlammerProtocol

extension Broker {
    /// Records a receipt durably in the routing slip, then publishes it to the sender's subscribers. A receipt the
    /// slip does not take (a second `delivered` for the same recipient, or a repeatable kind at the per-message
    /// bound, ``ReceiptLog/RecordOutcome``) is not published either: nothing is confirmed that the slip lacks.
    @discardableResult
    func recordReceipt(
        _ receipt: SignedReceipt, storeID: UInt64 = 0, clientMessageID: String = "",
        recipients: [ParticipantID] = []
    ) async throws -> ReceiptLog.RecordOutcome {
        let outcome = try await receiptLog.record(receipt, storeID: storeID, clientMessageID: clientMessageID, recipients: recipients)
        switch outcome {
        case .written, .alreadyRecorded:
            publish(receipt)
        case .superseded:
            break
        case .dropped:
            logger.warning(
                "routing slip of \(receipt.receipt.messageID) holds \(ReceiptLog.maxEntriesPerMessage) receipts; a \(receipt.receipt.kind) receipt was not recorded"
            )
        }
        return outcome
    }

    func publish(_ receipt: SignedReceipt) {
        let subscribers = state.withLock { Array(($0.subscribers[receipt.receipt.sender] ?? [:]).values) }
        for c in subscribers { c.yield(receipt) }
    }

    /// Live receipts for messages `participant` sent (accepted, delivered, acknowledged, expired, dead-lettered),
    /// from now on; the durable history is ``routingSlip(of:requester:)``. The stream ends when the consumer stops
    /// iterating or the broker closes. Buffers at most 1024 receipts (oldest dropped; the slip keeps them all).
    /// Throws LIMIT_EXCEEDED beyond `maxSubscribersPerParticipant` concurrent streams.
    public func receipts(for participant: ParticipantID) throws -> AsyncStream<SignedReceipt> {
        let (stream, continuation) = AsyncStream<SignedReceipt>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let token: UInt64 = try state.withLock { s in
            guard (s.subscribers[participant]?.count ?? 0) < configuration.maxSubscribersPerParticipant else {
                throw ProtocolError(
                    .limitExceeded,
                    "\(participant) already has \(configuration.maxSubscribersPerParticipant) receipt subscriptions; close one first")
            }
            let token = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[participant, default: [:]][token] = continuation
            return token
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in
                s.subscribers[participant]?[token] = nil
                if s.subscribers[participant]?.isEmpty == true { s.subscribers[participant] = nil }
            }
        }
        return stream
    }

    /// The routing slip of a message: every receipt recorded for it, in the order they were issued.
    /// Only the message's sender and recipients may read it; for anybody else (and for unknown ids) it is
    /// UNKNOWN_MESSAGE, so the existence of a message is not revealed.
    public func routingSlip(of messageID: MessageID, requester: ParticipantID) throws -> [SignedReceipt] {
        guard let slip = try receiptLog.slip(messageID),
            slip.sender == requester || slip.recipients.contains(requester)
        else {
            throw ProtocolError(.unknownMessage, "message \(messageID) is unknown or not visible to \(requester)")
        }
        // Acceptance precedes every other event of a message, but its record can come last: after a crash between
        // the store append and the slip record (§7.2) the sender's retry records it, possibly after the message was
        // delivered and acknowledged. The slip is returned in issue order, so the accepted receipt goes first.
        let receipts = slip.receipts
        return receipts.filter { $0.receipt.kind == .accepted } + receipts.filter { $0.receipt.kind != .accepted }
    }
}

extension Broker {
    /// Compacts the receipt log (SPEC.md §7.4): removes the routing slips of finished messages accepted more than
    /// `receiptRetention` ago when they make up at least `minimumReclaimFraction` of the file (0 forces a rewrite
    /// whenever anything can go). The daemon calls it every `receiptCompactionInterval`.
    @discardableResult
    public func compactReceiptLog(minimumReclaimFraction: Double = 0.25) async throws -> ReceiptCompaction {
        let report = try await receiptLog.compact(
            acceptedBefore: configuration.millis(ago: configuration.receiptRetention),
            demoteBefore: configuration.millis(ago: configuration.dedupeWindow),
            minimumReclaimFraction: minimumReclaimFraction)
        if report.messagesMadeCold > 0 {
            logger.info("receipt log: \(report.messagesMadeCold) finished messages past the dedupe window moved to the cold index")
        }
        if report.rewritten {
            logger.info(
                "receipt log compacted: \(report.messagesRemoved) finished slips older than the retention removed, \(report.messagesKept) kept, \(report.bytesBefore) → \(report.bytesAfter) bytes"
            )
        }
        return report
    }

    /// Messages (of which in the cold index) and receipts in the routing-slip index and the size of `receipts.klog`.
    public var receiptLogCounts: (messages: Int, cold: Int, receipts: Int, fileBytes: Int64) { receiptLog.counts }
}
