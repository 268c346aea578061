import Foundation

extension KlammerStore {
    /// Moves the lease of an in-flight delivery to another consumer of the same recipient (a recipient resuming a cut
    /// download on a new connection before the broker noticed the old one is dead, SPEC.md §4.8). The move is a new
    /// delivery attempt: the count goes up and is durable before the delivery is returned, so a recipient bouncing a
    /// lease between two connections ends in the dead-letter queue after `maxAttempts` like any other redelivery.
    /// The old consumer's lease token stops working; the new lease has a fresh token and deadline.
    /// - Throws: `.leaseNotHeld` if the entry is not in flight with `leaseToken` any more, or if its attempts are
    ///   exhausted (then it is dead-lettered, or expired if its TTL passed).
    public func transferLease(
        recipient: String, messageID: UInt64, leaseToken: UInt64, to consumer: ConsumerID,
        visibility: Duration
    ) async throws -> Delivery {
        let visMs = visibility.components.seconds * 1000 + visibility.components.attoseconds / 1_000_000_000_000_000
        typealias Picked = (location: RecordLocation, handle: SegmentHandle?, attempt: UInt32, token: UInt64)
        let picked: Picked = try await withCheckedThrowingContinuation { cont in
            let now = nowMs
            cell.m.withLock { s in
                if s.closed { cont.resume(throwing: StoreError.closed); return }
                // In place, not through a copy of the queue (which would copy its whole entry table on write).
                guard var e = s.queues[recipient]?.entries[messageID], case .inFlight(let old, let t, _) = e.state,
                    t == leaseToken, let meta = s.messages[messageID]
                else {
                    cont.resume(
                        throwing: StoreError(
                            .leaseNotHeld,
                            "message \(messageID) is not leased with this token (lease expired, redelivered or already acked)"))
                    return
                }
                if meta.expiresAtMs <= now || Int(e.attempts) >= config.maxAttempts {
                    makeAvailableLocked(&s, recipient: recipient, messageID: messageID, nowMs: now)  // expires or dead-letters it
                    cont.resume(
                        throwing: StoreError(
                            .leaseNotHeld,
                            "message \(messageID) reached \(config.maxAttempts) delivery attempts or its TTL; it is no longer deliverable"))
                    return
                }
                StoreMetrics.redeliveries.increment()
                e.attempts += 1
                let token = s.nextLeaseToken
                s.nextLeaseToken += 1
                e.state = .inFlight(consumer: consumer, token: token, deadlineMs: now + visMs)
                s.queues[recipient]!.entries[messageID] = e
                s.queues[recipient]!.waiting[messageID] = now + visMs
                let ref = StoreState.LeaseRef(recipient: recipient, messageID: messageID)
                s.consumers[old]?.remove(ref)
                s.consumers[consumer, default: []].insert(ref)
                let result: Picked = (meta.location, s.segments[meta.location.segmentID]?.handle, e.attempts, token)
                let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient, attempts: e.attempts)
                // Attempts are best effort once the write path is poisoned (as in `lease`).
                let err = submitLocked(&s, .attempt, body) { _, _ in cont.resume(returning: result) }
                if err != nil { cont.resume(returning: result) }
            }
        }
        guard let handle = picked.handle else {
            throw StoreError(.leaseNotHeld, "message \(messageID) is no longer stored")
        }
        let m = try readMessage(handle, picked.location)
        return Delivery(
            messageID: messageID, recipient: recipient, sender: m.sender, clientMessageID: m.clientMessageID,
            envelope: m.envelope, payload: m.payload,
            expiresAt: Date(timeIntervalSince1970: Double(m.expiresAtMs) / 1000),
            attempt: Int(picked.attempt), leaseToken: picked.token)
    }
}

extension KlammerStore {
    /// Leases one specific ready message of `recipient` (a recipient resuming a cut download, SPEC.md §4.8), whatever
    /// its position in the queue; the same rules as ``lease(recipient:consumer:max:visibility:)`` otherwise (expired →
    /// expired, attempts exhausted → dead-lettered, attempt count durable before it is returned). nil if the message
    /// is not ready for `recipient` (in flight, delayed, finished or unknown).
    public func leaseMessage(recipient: String, messageID: UInt64, consumer: ConsumerID, visibility: Duration) async throws -> Delivery? {
        let visMs = visibility.components.seconds * 1000 + visibility.components.attoseconds / 1_000_000_000_000_000
        typealias Picked = (loc: RecordLocation, handle: SegmentHandle?, attempt: UInt32, token: UInt64)
        let picked: Picked? = try await withCheckedThrowingContinuation { cont in
            let now = nowMs
            cell.m.withLock { s in
                if s.closed { cont.resume(throwing: StoreError.closed); return }
                guard var e = s.queues[recipient]?.entries[messageID], e.state == .ready,
                    let meta = s.messages[messageID]
                else { cont.resume(returning: nil); return }
                if meta.expiresAtMs <= now {
                    expireLocked(&s, recipient: recipient, messageID: messageID)
                    cont.resume(returning: nil)
                    return
                }
                if Int(e.attempts) >= config.maxAttempts {
                    deadLetterLocked(&s, recipient: recipient, messageID: messageID)
                    cont.resume(returning: nil)
                    return
                }
                if e.attempts > 0 { StoreMetrics.redeliveries.increment() }
                e.attempts += 1
                let token = s.nextLeaseToken
                s.nextLeaseToken += 1
                // Its id stays in `fresh`/`returned`; `popReady` skips entries that are no longer ready.
                e.state = .inFlight(consumer: consumer, token: token, deadlineMs: now + visMs)
                s.queues[recipient]!.entries[messageID] = e
                s.queues[recipient]!.waiting[messageID] = now + visMs
                s.consumers[consumer, default: []].insert(StoreState.LeaseRef(recipient: recipient, messageID: messageID))
                let result: Picked = (meta.location, s.segments[meta.location.segmentID]?.handle, e.attempts, token)
                let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient, attempts: e.attempts)
                let err = submitLocked(&s, .attempt, body) { _, _ in cont.resume(returning: result) }
                if err != nil { cont.resume(returning: result) }
            }
        }
        guard let picked, let handle = picked.handle else { return nil }
        let m = try readMessage(handle, picked.loc)
        return Delivery(
            messageID: messageID, recipient: recipient, sender: m.sender, clientMessageID: m.clientMessageID,
            envelope: m.envelope, payload: m.payload,
            expiresAt: Date(timeIntervalSince1970: Double(m.expiresAtMs) / 1000),
            attempt: Int(picked.attempt), leaseToken: picked.token)
    }
}
