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
        let (senderRaw, clientID, recipientRaw, kind, reason): (String, String, String, Receipt.Kind, ErrorCode)
        switch event {
        case .expired(_, let recipient, let sender, let clientMessageID):
            (senderRaw, clientID, recipientRaw, kind, reason) = (sender, clientMessageID, recipient, .expired, .expired)
        case .deadLettered(_, let recipient, let sender, let clientMessageID, _):
            (senderRaw, clientID, recipientRaw, kind, reason) = (sender, clientMessageID, recipient, .deadLettered, .deliveryAttemptsExhausted)
        }
        let sender = try ParticipantID(senderRaw)
        let recipient = try ParticipantID(recipientRaw)
        guard let messageID = receiptLog.messageID(sender: sender, clientMessageID: clientID),
              let slip = receiptLog.slip(messageID),
              let accepted = slip.receipts.first(where: { $0.receipt.kind == .accepted }) else {
            throw ProtocolError(.unknownMessage, "no accepted receipt recorded for \(sender)/\(clientID)")
        }
        state.withLock { s in
            if let lease = s.leases[LeaseKey(recipient: recipient, messageID: messageID)], lease.message.stored.messageID == messageID {
                s.leases[LeaseKey(recipient: recipient, messageID: messageID)] = nil
            }
        }
        let receipt = try Receipt(kind: kind, messageID: messageID, envelopeDigest: accepted.receipt.envelopeDigest,
                                  sender: sender, recipient: recipient, timestampMillis: configuration.nowMillis,
                                  brokerID: configuration.brokerID, reason: reason)
        try await recordReceipt(try sign(receipt))
    }
}
