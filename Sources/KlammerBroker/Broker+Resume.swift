public import KlammerProtocol
public import KlammerStore

extension Broker {
    /// A recipient resumes a cut download on connection `consumer` (FETCH with `resume`, SPEC.md §4.8): if message
    /// `messageID` is still leased to another connection of the same participant — the old connection whose cut the
    /// broker has not noticed yet — the lease moves to `consumer` and the delivery is returned, to be delivered first
    /// from the client's offset. nil if it is not leased to another connection (then the normal lease picks it up
    /// once it is ready, for example after the old connection's leases were released).
    public func takeOverLease(for participant: Participant, consumer: ConsumerID, messageID: MessageID,
                              visibility: Duration = .seconds(300)) throws -> BrokerDelivery? {
        let (_, recipient) = try currentActive(participant)
        let key = LeaseKey(recipient: recipient, messageID: messageID)
        guard let lease = state.withLock({ s -> LeaseInfo? in
            guard let l = s.leases[key], l.consumer != consumer else { return nil }
            return l
        }) else { return nil }
        let delivery: Delivery
        do {
            delivery = try store.transferLease(recipient: recipient.rawValue, messageID: lease.storeID, leaseToken: lease.token,
                                               to: consumer, visibility: visibility)
        } catch {
            return nil  // acknowledged, released or timed out meanwhile: the normal path handles it
        }
        state.withLock { s in
            s.leases[key] = LeaseInfo(storeID: lease.storeID, token: delivery.leaseToken, consumer: consumer, message: lease.message)
        }
        return BrokerDelivery(recipient: recipient, message: lease.message, payload: delivery.payload, attempt: delivery.attempt,
                              expiresAt: delivery.expiresAt, storeID: lease.storeID, leaseToken: delivery.leaseToken)
    }
}
