import KlammerProtocol
import KlammerStore

extension Broker {
    /// Turns the store's expiry and dead-letter events into `expired` / `dead-lettered` receipts for the sender
    /// (recorded in the routing slip, then published). Run it once in a task; returns when the store closes.
    public func run() async {
        for await event in store.events {
            do { try await handle(event) } catch {
                logger.error("could not issue a receipt for store event \(event): \(error)")
            }
        }
    }

    func handle(_ event: StoreEvent) async throws {
        let (storeID, recipientRaw, kind, reason): (UInt64, String, Receipt.Kind, ErrorCode)
        switch event {
        case .expired(let id, let recipient, _, _):
            (storeID, recipientRaw, kind, reason) = (id, recipient, .expired, .expired)
        case .deadLettered(let id, let recipient, _, _, _):
            (storeID, recipientRaw, kind, reason) = (id, recipient, .deadLettered, .deliveryAttemptsExhausted)
        }
        // The store id is always present (sender fields of an event may be empty); the slip's accepted record maps it.
        guard let messageID = receiptLog.messageID(storeID: storeID),
            let accepted = try receiptLog.acceptedReceipt(of: messageID)
        else {
            throw ProtocolError(.unknownMessage, "no accepted receipt recorded for store message \(storeID)")
        }
        let recipient = try ParticipantID(recipientRaw)
        state.withLock { s in s.leases[LeaseKey(recipient: recipient, messageID: messageID)] = nil }
        let receipt = try Receipt(
            kind: kind, messageID: messageID, envelopeDigest: accepted.receipt.envelopeDigest,
            sender: accepted.receipt.sender, recipient: recipient, timestampMillis: configuration.nowMillis,
            brokerID: configuration.brokerID, reason: reason)
        try await recordReceipt(try sign(receipt))
    }
}
