import Foundation

extension KlammerStore {
    /// Leases up to `max` ready messages of `recipient`, lowest message id first (per-sender FIFO). Each stays in flight
    /// until acked/nacked, until `visibility` passes or until `releaseLeases(consumer:)`; then it is redelivered with
    /// `attempt + 1`. The attempt count is made durable before the messages are returned, so a crash loop still ends in
    /// the dead-letter queue after `maxAttempts`. Expired entries met on the way are expired (event), entries that
    /// reached `maxAttempts` are dead-lettered (event).
    public func lease(recipient: String, consumer: ConsumerID, max: Int, visibility: Duration) async throws -> [Delivery] {
        guard max > 0 else { return [] }
        let visMs = visibility.components.seconds * 1000 + visibility.components.attoseconds / 1_000_000_000_000_000
        typealias Picked = (id: UInt64, loc: RecordLocation, handle: SegmentHandle?, attempt: UInt32, token: UInt64)
        let picked: [Picked] = try await withCheckedThrowingContinuation { cont in
            let now = nowMs
            cell.m.withLock { s in
                if s.closed { cont.resume(throwing: StoreError.closed); return }
                var out: [Picked] = []
                guard var q = s.queues[recipient] else { cont.resume(returning: []); return }
                s.queues[recipient] = nil  // edit a local copy (avoid copy-on-write of the dictionary value)
                var toExpire: [UInt64] = []
                var toDead: [UInt64] = []
                while out.count < max, let id = q.popReady() {
                    guard let meta = s.messages[id], var e = q.entries[id] else { continue }
                    if meta.expiresAtMs <= now { toExpire.append(id); continue }
                    if Int(e.attempts) >= config.maxAttempts { toDead.append(id); continue }
                    if e.attempts > 0 { StoreMetrics.redeliveries.increment() }
                    e.attempts += 1
                    let token = s.nextLeaseToken
                    s.nextLeaseToken += 1
                    e.state = .inFlight(consumer: consumer, token: token, deadlineMs: now + visMs)
                    q.entries[id] = e
                    q.waiting[id] = now + visMs
                    s.consumers[consumer, default: []].insert(StoreState.LeaseRef(recipient: recipient, messageID: id))
                    out.append((id, meta.location, s.segments[meta.location.segmentID]?.handle, e.attempts, token))
                }
                s.queues[recipient] = q
                for id in toExpire { expireLocked(&s, recipient: recipient, messageID: id) }
                for id in toDead { deadLetterLocked(&s, recipient: recipient, messageID: id) }
                if out.isEmpty { cont.resume(returning: []); return }
                let final = out
                for (k, p) in out.enumerated() {
                    let body = RecordBody.encodeEntry(messageID: p.id, recipient: recipient, attempts: p.attempt)
                    let isLast = k == out.count - 1
                    let err = submitLocked(&s, .attempt, body) { _, _ in
                        // Attempts are best effort once the write path is poisoned (reads continue).
                        if isLast { cont.resume(returning: final) }
                    }
                    if err != nil { cont.resume(returning: final); return }
                }
            }
        }
        var deliveries: [Delivery] = []
        deliveries.reserveCapacity(picked.count)
        for p in picked {
            guard let h = p.handle else { continue }
            let m = try readMessage(h, p.loc)
            deliveries.append(
                Delivery(
                    messageID: p.id, recipient: recipient, sender: m.sender, clientMessageID: m.clientMessageID,
                    envelope: m.envelope, payload: m.payload,
                    expiresAt: Date(timeIntervalSince1970: Double(m.expiresAtMs) / 1000),
                    attempt: Int(p.attempt), leaseToken: p.token))
        }
        return deliveries
    }

    /// Acknowledges a delivery: the entry is finished and, once durable, never delivered again (also after restart).
    /// Throws `.leaseNotHeld` if the lease expired or the token is stale.
    public func ack(recipient: String, messageID: UInt64, leaseToken: UInt64) async throws {
        try await finish(.ack, recipient: recipient, messageID: messageID) { e in
            if case .inFlight(_, let t, _) = e.state, t == leaseToken { return true }
            return false
        }
    }

    /// Returns a delivery to the queue, visible again after `delay`. If it reached `maxAttempts` it is dead-lettered.
    public func nack(recipient: String, messageID: UInt64, leaseToken: UInt64, delay: Duration = .zero) throws {
        let delayMs = delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000
        let now = nowMs
        try cell.m.withLock { s in
            guard let e = s.queues[recipient]?.entries[messageID], case .inFlight(let c, let t, _) = e.state,
                t == leaseToken
            else {
                throw StoreError(.leaseNotHeld, "message \(messageID) is not leased with this token (lease expired or already acked)")
            }
            s.consumers[c]?.remove(StoreState.LeaseRef(recipient: recipient, messageID: messageID))
            if delayMs > 0 && Int(e.attempts) < config.maxAttempts {
                s.queues[recipient]!.entries[messageID]!.state = .delayed(untilMs: now + delayMs)
                s.queues[recipient]!.waiting[messageID] = now + delayMs
            } else {
                makeAvailableLocked(&s, recipient: recipient, messageID: messageID, nowMs: now)
            }
        }
    }

    /// Releases every lease of a disconnected consumer; the messages become deliverable again at once.
    public func releaseLeases(consumer: ConsumerID) {
        let now = nowMs
        cell.m.withLock { s in
            guard let refs = s.consumers.removeValue(forKey: consumer) else { return }
            for r in refs.sorted(by: { $0.messageID < $1.messageID }) {
                makeAvailableLocked(&s, recipient: r.recipient, messageID: r.messageID, nowMs: now)
            }
        }
    }

    /// Whether `recipient` has a message that can be leased now (ready; not in flight, delayed or dead-lettered).
    /// Amortised O(1) under the store lock, whatever the queue's depth (FETCH asks this after every filled batch).
    public func hasReady(recipient: String) -> Bool {
        cell.m.withLock { s in
            guard s.queues[recipient] != nil else { return false }
            return s.queues[recipient]!.hasReady()  // in place: no copy of the queue
        }
    }

    /// Lists the dead-letter queue of `recipient` (oldest first).
    public func deadLetters(recipient: String, limit: Int = 1000) throws -> [QueuedMessage] {
        try browse(recipient: recipient, limit: limit, deadLettered: true)
    }

    /// Lists pending messages of `recipient` in delivery order without leasing them (ready, in flight, delayed).
    public func browse(recipient: String, limit: Int = 1000) throws -> [QueuedMessage] {
        try browse(recipient: recipient, limit: limit, deadLettered: false)
    }

    func browse(recipient: String, limit: Int, deadLettered: Bool) throws -> [QueuedMessage] {
        let items = cell.m.withLock { s -> [(UInt64, Entry, RecordLocation, SegmentHandle?)] in
            guard let q = s.queues[recipient] else { return [] }
            var ids = q.entries.filter { ($0.value.state == .deadLettered) == deadLettered }.map(\.key)
            ids.sort()
            return ids.prefix(limit).compactMap { id in
                guard let m = s.messages[id] else { return nil }
                return (id, q.entries[id]!, m.location, s.segments[m.location.segmentID]?.handle)
            }
        }
        return try items.compactMap { (id, e, loc, h) in
            guard let h else { return nil }
            let m = try readMessage(h, loc)
            var inFlight = false
            if case .inFlight = e.state { inFlight = true }
            return QueuedMessage(
                messageID: id, sender: m.sender, clientMessageID: m.clientMessageID,
                envelope: m.envelope, payload: m.payload, attempts: Int(e.attempts),
                deadLettered: e.state == .deadLettered, inFlight: inFlight)
        }
    }

    /// Moves a dead-lettered message back into its queue with the attempt counter reset.
    public func replayDeadLetter(recipient: String, messageID: UInt64) async throws {
        let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient)
        let crc = CRC32C.checksum(body)
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let err = cell.m.withLock { s -> StoreError? in
                guard s.queues[recipient]?.entries[messageID]?.state == .deadLettered else {
                    return StoreError(.notFound, "message \(messageID) is not in the dead-letter queue of \(recipient)")
                }
                let seq = s.nextSeq
                s.nextSeq += 1
                if let e = writer.submit(
                    PendingWrite(
                        seq: seq, type: .replay, body: body, bodyCRC: crc,
                        completion: { _, r, _ in
                            cont.resume(with: r.map { _ in () })
                        }))
                {
                    return e
                }
                s.queues[recipient]!.entries[messageID] = Entry(state: .ready, attempts: 0)
                s.queues[recipient]!.insertReturned(messageID)
                return nil
            }
            if let err { cont.resume(throwing: err) }
        }
    }

    /// Deletes a dead-lettered message for `recipient` (the entry becomes terminal; space is reclaimed by compaction).
    public func purgeDeadLetter(recipient: String, messageID: UInt64) async throws {
        try await finish(.purge, recipient: recipient, messageID: messageID) { $0.state == .deadLettered }
    }

    /// Deletes a queued (ready, delayed) or dead-lettered message for `recipient` (operator purge); in-flight entries
    /// are refused with `.notFound`: they end with their consumer's ack or lease timeout.
    public func purge(recipient: String, messageID: UInt64) async throws {
        try await finish(.purge, recipient: recipient, messageID: messageID) { e in
            if case .inFlight = e.state { return false }
            return true
        }
    }

    /// Writes a terminal record (ack/purge) after checking `allowed`, applies it and waits until it is durable.
    func finish(
        _ type: RecordType, recipient: String, messageID: UInt64,
        allowed: @escaping (Entry) -> Bool
    ) async throws {
        let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient)
        let crc = CRC32C.checksum(body)
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<Void, any Error>) in
            let err = cell.m.withLock { s -> StoreError? in
                if s.closed { return StoreError.closed }
                guard let e = s.queues[recipient]?.entries[messageID], allowed(e) else {
                    return type == .ack
                        ? StoreError(
                            .leaseNotHeld,
                            "message \(messageID) is not leased with this token (lease expired, redelivered or already acked)")
                        : StoreError(
                            .notFound, "message \(messageID) is not purgeable in the queue of \(recipient) (not there, or in flight)")
                }
                if let p = writer.poisonError { return p }
                let dead = s.finishEntry(recipient: recipient, messageID: messageID)
                let seq = s.nextSeq
                s.nextSeq += 1
                return writer.submit(
                    PendingWrite(
                        seq: seq, type: type, body: body, bodyCRC: crc,
                        completion: { [self] _, r, _ in
                            if case .success = r, let blob = dead?.blob { deleteBlobFile(blob.id) }
                            cont.resume(with: r.map { _ in () })
                        }))
            }
            if let err { cont.resume(throwing: err) }
        }
    }

    /// An in-flight or delayed entry becomes ready again, or is expired / dead-lettered. Caller holds the lock.
    func makeAvailableLocked(_ s: inout StoreState, recipient: String, messageID: UInt64, nowMs: Int64) {
        guard var e = s.queues[recipient]?.entries[messageID] else { return }
        if case .inFlight(let c, _, _) = e.state {
            s.consumers[c]?.remove(StoreState.LeaseRef(recipient: recipient, messageID: messageID))
        }
        s.queues[recipient]!.waiting.removeValue(forKey: messageID)
        if let m = s.messages[messageID], m.expiresAtMs <= nowMs {
            expireLocked(&s, recipient: recipient, messageID: messageID)
            return
        }
        if Int(e.attempts) >= config.maxAttempts {
            deadLetterLocked(&s, recipient: recipient, messageID: messageID)
            return
        }
        e.state = .ready
        s.queues[recipient]!.entries[messageID] = e
        s.queues[recipient]!.insertReturned(messageID)
    }

    /// Expires one entry: terminal record, then an `.expired` event once durable. Caller holds the lock.
    func expireLocked(_ s: inout StoreState, recipient: String, messageID: UInt64) {
        guard let meta = s.messages[messageID] else { return }
        let h = s.segments[meta.location.segmentID]?.handle
        let loc = meta.location
        let dead = s.finishEntry(recipient: recipient, messageID: messageID)
        let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient)
        _ = submitLocked(&s, .expire, body) { [self] _, r in
            guard case .success = r else { return }
            StoreMetrics.expired.increment()
            if let blob = dead?.blob { deleteBlobFile(blob.id) }
            let m = h.flatMap { try? readMessage($0, loc) }
            eventContinuation.yield(
                .expired(
                    messageID: messageID, recipient: recipient,
                    sender: m?.sender ?? "", clientMessageID: m?.clientMessageID ?? ""))
        }
    }

    /// Moves one entry to the dead-letter queue (record + `.deadLettered` event once durable). Caller holds the lock.
    func deadLetterLocked(_ s: inout StoreState, recipient: String, messageID: UInt64) {
        guard let meta = s.messages[messageID], var e = s.queues[recipient]?.entries[messageID] else { return }
        let h = s.segments[meta.location.segmentID]?.handle
        e.state = .deadLettered
        s.queues[recipient]!.entries[messageID] = e
        s.queues[recipient]!.waiting.removeValue(forKey: messageID)
        let loc = meta.location
        let attempts = Int(e.attempts)
        let body = RecordBody.encodeEntry(messageID: messageID, recipient: recipient, attempts: e.attempts)
        _ = submitLocked(&s, .deadLetter, body) { [self] _, r in
            guard case .success = r else { return }
            StoreMetrics.deadLettered.increment()
            let m = h.flatMap { try? readMessage($0, loc) }
            eventContinuation.yield(
                .deadLettered(
                    messageID: messageID, recipient: recipient, sender: m?.sender ?? "",
                    clientMessageID: m?.clientMessageID ?? "", attempts: attempts))
        }
    }
}
