import Foundation
public import KlammerProtocol
public import KlammerStore

extension Broker {
    /// Leases up to `max` ready messages for the connected `participant` (refused unless active). Each stays leased
    /// until acknowledged/nacked, until `visibility` passes, or until ``disconnected(consumer:)``.
    public func lease(
        for participant: Participant, consumer: ConsumerID, max: Int,
        visibility: Duration = .seconds(300)
    ) async throws -> [BrokerDelivery] {
        let (_, recipient) = try currentActive(participant)
        guard max >= 1, max <= configuration.maxLeaseBatch else {
            throw ProtocolError(.limitExceeded, "lease batch \(max) is outside 1…\(configuration.maxLeaseBatch)")
        }
        let leased: [Delivery]
        do { leased = try await store.lease(recipient: recipient.rawValue, consumer: consumer, max: max, visibility: visibility) } catch {
            throw Broker.storageRefusal(error, doing: "leasing messages")
        }
        var out: [BrokerDelivery] = []
        for d in leased {
            let message: StoredMessage
            do { message = try StoredMessage(decoding: d.envelope, limits: configuration.limits) } catch {
                logger.error("undecodable stored message \(d.messageID) for \(recipient): \(error)")
                try? store.nack(recipient: d.recipient, messageID: d.messageID, leaseToken: d.leaseToken, delay: .seconds(3600))
                continue
            }
            state.withLock { s in
                s.leases[LeaseKey(recipient: recipient, messageID: message.stored.messageID)] =
                    LeaseInfo(storeID: d.messageID, token: d.leaseToken, consumer: consumer, message: message)
            }
            out.append(
                BrokerDelivery(
                    recipient: recipient, message: message, payload: d.payload, attempt: d.attempt,
                    expiresAt: d.expiresAt, storeID: d.messageID, leaseToken: d.leaseToken))
        }
        return out
    }

    /// Opens a blob payload for streaming (inline payloads are in the delivery itself).
    public func openPayload(_ reference: BlobReference) throws -> BlobReader {
        do { return try store.openBlob(reference) } catch {
            throw Broker.storageRefusal(error, doing: "opening the payload")
        }
    }

    /// Records the `delivered` receipt once DELIVER_END was written to the recipient connection; returns it
    /// (it is also published to the sender). The slip holds one `delivered` receipt per recipient: for a
    /// redelivery (NACK, lease timeout, resumed download) the first one is returned and nothing is recorded or
    /// published, so a recipient cannot grow the slip by fetching a message again and again.
    @discardableResult
    public func markDelivered(_ delivery: BrokerDelivery) async throws -> SignedReceipt {
        let stored = delivery.message.stored
        if let first = try receiptLog.deliveredReceipt(of: stored.messageID, to: delivery.recipient) { return first }
        let receipt = try Receipt(
            kind: .delivered, messageID: stored.messageID, envelopeDigest: delivery.message.envelopeDigest,
            sender: stored.envelope.sender, recipient: delivery.recipient,
            timestampMillis: configuration.nowMillis, brokerID: configuration.brokerID)
        let signed = try sign(receipt)
        if try await recordReceipt(signed) == .superseded,  // a concurrent delivery recorded its receipt first
            let first = try receiptLog.deliveredReceipt(of: stored.messageID, to: delivery.recipient)
        {
            return first
        }
        return signed
    }

    /// Acknowledges a leased message with the recipient's detached CMS signature over the canonical
    /// acknowledgement statement (SPEC.md §5.7, §7.2). Checks, in order: participant active; statement parses
    /// (INVALID_VALUE …); statement recipient == connected participant (IMPERSONATION); the message is leased to it
    /// on this connection's `consumer` (UNKNOWN_MESSAGE; a lease that timed out and went to another connection is
    /// not acknowledgeable here); statement's envelope digest and sender equal the message's (INVALID_VALUE); signature by a
    /// registered certificate of the recipient that verifies (SIGNATURE_MISSING / CERTIFICATE_NOT_REGISTERED /
    /// SIGNATURE_INVALID). Then the `acknowledged` receipt (carrying the statement and signature) is signed and recorded
    /// in the routing slip, then the store acks durably, then the receipt is returned.
    public func acknowledge(
        from participant: Participant, consumer: ConsumerID, statement statementBytes: [UInt8],
        signature: [UInt8]
    ) async throws -> SignedReceipt {
        let (current, recipient) = try currentActive(participant)
        guard statementBytes.count <= 1024 else {
            throw ProtocolError(.limitExceeded, "acknowledgement statement of \(statementBytes.count) bytes exceeds 1024")
        }
        let statement = try AcknowledgementStatement(parsingCanonical: statementBytes)
        guard statement.recipient == recipient else {
            throw ProtocolError(
                .impersonation,
                "the acknowledgement names recipient \(statement.recipient) but this connection is authenticated as \(recipient)")
        }
        let key = LeaseKey(recipient: recipient, messageID: statement.messageID)
        // Taken out of the table at once, so a second ACK for the same lease cannot record a second receipt.
        guard
            let lease = state.withLock({ s -> LeaseInfo? in
                guard let l = s.leases[key], l.consumer == consumer else { return nil }
                s.leases[key] = nil
                return l
            })
        else {
            throw ProtocolError(
                .unknownMessage,
                "message \(statement.messageID) is not leased to \(recipient) on this connection (lease expired, released or already acknowledged); fetch it again"
            )
        }
        // Until the receipt is recorded a refusal leaves the lease in place (the client may fetch/NACK/retry).
        func restoreLease() { state.withLock { s in if s.leases[key] == nil { s.leases[key] = lease } } }
        guard statement.envelopeDigest == lease.message.envelopeDigest, statement.sender == lease.message.stored.envelope.sender else {
            restoreLease()
            throw ProtocolError(
                .invalidValue, "the acknowledgement's envelope digest or sender does not match message \(statement.messageID)")
        }
        do { _ = try verifySignature(signature, over: statement.canonicalBytes, by: current, what: "acknowledgement") } catch {
            restoreLease()
            throw error
        }
        // The receipt (with the recipient's signed statement, the sender's evidence) is recorded durably BEFORE the
        // store forgets the message. In the other order a crash between the two loses the evidence for good: the
        // store never delivers the message again, so no new ACK can ever produce the receipt (found by the
        // integration suite's SIGKILL runs). In this order a crash in between only redelivers the message, and
        // the recipient acknowledges it once more (at-least-once, like every other crash window).
        let receipt = try Receipt(
            kind: .acknowledged, messageID: statement.messageID, envelopeDigest: statement.envelopeDigest,
            sender: statement.sender, recipient: recipient,
            timestampMillis: configuration.nowMillis, brokerID: configuration.brokerID)
        let signed: SignedReceipt
        do {
            signed = try sign(receipt, acknowledgement: .init(statement: statement, signature: signature))
            try await recordReceipt(signed)
        } catch {
            restoreLease()
            throw error
        }
        do { try await store.ack(recipient: recipient.rawValue, messageID: lease.storeID, leaseToken: lease.token) } catch {
            throw Broker.storageRefusal(error, doing: "acknowledging message \(statement.messageID)")
        }
        return signed
    }

    /// Returns a leased message to the queue, visible again after `delay` (dead-lettered once attempts are exhausted).
    public func nack(from participant: Participant, consumer: ConsumerID, messageID: MessageID, delay: Duration = .zero) throws {
        guard let recipient = try? ParticipantID(participant.id) else {
            throw ProtocolError(.unknownParticipant, "participant id \(participant.id) is invalid")
        }
        let key = LeaseKey(recipient: recipient, messageID: messageID)
        let lease: LeaseInfo? = state.withLock { s in
            guard let l = s.leases[key], l.consumer == consumer else { return nil }
            s.leases[key] = nil
            return l
        }
        guard let lease else {
            throw ProtocolError(.unknownMessage, "message \(messageID) is not leased to \(recipient) on this connection")
        }
        do { try store.nack(recipient: recipient.rawValue, messageID: lease.storeID, leaseToken: lease.token, delay: delay) } catch {
            throw ProtocolError(.unknownMessage, "message \(messageID) is no longer leased to \(recipient) (\(error))")
        }
    }

    /// Releases every lease of a closed connection: its messages become deliverable again at once.
    public func disconnected(consumer: ConsumerID) {
        state.withLock { s in s.leases = s.leases.filter { $0.value.consumer != consumer } }
        store.releaseLeases(consumer: consumer)
    }
}
