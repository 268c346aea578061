public import KlammerProtocol
public import KlammerStore

extension Broker {
    /// Leases message `messageID` to connection `consumer` for a recipient resuming a cut download (FETCH with
    /// `resume`, SPEC.md §4.8), wherever it stands in the queue (either way a new delivery attempt):
    /// - still leased to another connection of the same participant (the old connection whose cut the broker has not
    ///   noticed yet): the lease moves to `consumer`;
    /// - ready (for example after the old connection's leases were released): it is leased to `consumer` directly.
    ///
    /// nil otherwise (already leased to `consumer`, delayed, acknowledged, expired, unknown, or not addressed to the
    /// participant); then the FETCH goes on normally.
    public func leaseForResume(
        for participant: Participant, consumer: ConsumerID, messageID: MessageID,
        visibility: Duration = .seconds(300)
    ) async throws -> BrokerDelivery? {
        let (_, recipient) = try currentActive(participant)
        let key = LeaseKey(recipient: recipient, messageID: messageID)
        let current = state.withLock { $0.leases[key] }
        if let lease = current {
            guard lease.consumer != consumer else { return nil }
            let delivery: Delivery
            do {
                delivery = try await store.transferLease(
                    recipient: recipient.rawValue, messageID: lease.storeID, leaseToken: lease.token,
                    to: consumer, visibility: visibility)
            } catch {
                // Acknowledged, released or timed out meanwhile, or its attempts are exhausted (a resume counts as
                // an attempt): the old lease is void either way, and the normal path handles the rest.
                state.withLock { s in if s.leases[key]?.token == lease.token { s.leases[key] = nil } }
                return nil
            }
            state.withLock { s in
                s.leases[key] = LeaseInfo(storeID: lease.storeID, token: delivery.leaseToken, consumer: consumer, message: lease.message)
            }
            return BrokerDelivery(
                recipient: recipient, message: lease.message, payload: delivery.payload, attempt: delivery.attempt,
                expiresAt: delivery.expiresAt, storeID: lease.storeID, leaseToken: delivery.leaseToken)
        }
        guard let storeID = receiptLog.storeID(of: messageID) else { return nil }
        let leased: Delivery?
        do {
            leased = try await store.leaseMessage(
                recipient: recipient.rawValue, messageID: storeID, consumer: consumer, visibility: visibility)
        } catch {
            throw Broker.storageRefusal(error, doing: "leasing message \(messageID)")
        }
        guard let d = leased else { return nil }
        let message: StoredMessage
        do { message = try StoredMessage(decoding: d.envelope, limits: configuration.limits) } catch {
            logger.error("undecodable stored message \(d.messageID) for \(recipient): \(error)")
            try? store.nack(recipient: d.recipient, messageID: d.messageID, leaseToken: d.leaseToken, delay: .seconds(3600))
            return nil
        }
        state.withLock { s in
            s.leases[key] = LeaseInfo(storeID: d.messageID, token: d.leaseToken, consumer: consumer, message: message)
        }
        return BrokerDelivery(
            recipient: recipient, message: message, payload: d.payload, attempt: d.attempt,
            expiresAt: d.expiresAt, storeID: d.messageID, leaseToken: d.leaseToken)
    }
}
