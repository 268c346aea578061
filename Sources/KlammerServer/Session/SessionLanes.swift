import KlammerBroker
import KlammerProtocol
import KlammerStore
import NIOCore

/// The two serial lanes of a connection. Each runs in its own task so that a slow delivery (a recipient that reads
/// slowly) never stalls the same connection's uploads, and vice versa; within a lane, work is done in arrival order.
enum SessionLanes {
    /// Uploads, ACK, NACK, STATUS_REQUEST, in order. Holds the connection's `PayloadSubmission`s (task-confined).
    static func runRequests(
        broker: Broker, participant: Participant, id: ParticipantID, consumer: ConsumerID,
        parking: UploadParking, quota: UploadQuota = UploadQuota(),
        rate: RequestRateLimiter = RequestRateLimiter(perSecond: 0), work: AsyncStream<RequestWork>,
        output: SessionOutput,
        refusals: RefusalReporter = RefusalReporter(fingerprint: "", participant: "", report: { _ in })
    ) async {
        // Every entry holds one unit of `quota` (taken at SEND_BEGIN, given back when the entry goes).
        var uploads: [UInt32: UploadSlot] = [:] {
            didSet { if uploads.count < oldValue.count { quota.release(id, count: oldValue.count - uploads.count) } }
        }
        let owner = parking.newOwner()
        // Unfinished uploads outlive the connection for a while, so the sender can resume (SPEC.md §4.8); parked
        // ones are bounded by the parking, not the quota.
        defer {
            parking.park(Array(uploads.values), owner: owner)
            quota.release(id, count: uploads.count)
        }
        // SEND_END and ACK wait for a durable append (fdatasync). Running them one after another would make a
        // connection pay one sync per message; finishing them in child tasks lets a pipelining client's messages
        // share the store's group commit. Bounded per connection; the lane waits for them before it ends.
        // A discarding group frees each child as it completes: a plain task group keeps every completed child (its
        // task allocator, ~10 KiB) until `next()` collects it, which with up to `maxConcurrentFinishes` per
        // connection held about 1 GiB in a 272-participant run. Completions are counted through `finished`
        // (at most one element per running child), so the bound is on children still running.
        let (finished, finishedSignal) = AsyncStream<Void>.makeStream()
        var completions = finished.makeAsyncIterator()
        await withDiscardingTaskGroup { finishing in
            var inFlight = 0
            for await item in work {
                if inFlight >= maxConcurrentFinishes, await completions.next() != nil { inFlight -= 1 }
                // Requests per second per participant, before any work (CHUNK, SEND_END and aborts belong to an upload
                // its SEND_BEGIN already paid for).
                if let requestID = Self.rateLimitedRequestID(item), let refusal = rate.admit(id) {
                    BrokerMetrics.rateLimited.increment()
                    output.post(.failed(requestID: requestID, error: refusal))
                    continue
                }
                switch item {
                case .begin(let requestID, let form, let bytes):
                    // Before the envelope is even parsed: a participant at its quota costs no work (and no audit line;
                    // the refusal is counted in the metrics).
                    if let refusal = quota.acquire(id) {
                        BrokerMetrics.rejected(refusal.code).increment()
                        output.post(.failed(requestID: requestID, error: refusal))
                        continue
                    }
                    do {
                        let start: SubmissionStart
                        do { start = try broker.beginSubmission(from: participant, envelopeBytes: bytes, signatureForm: form) } catch {
                            quota.release(id)
                            throw error
                        }
                        switch start {
                        case .duplicate(let receipt):
                            quota.release(id)
                            output.post(.duplicate(requestID: requestID, receipt: receipt))
                        case .upload(let submission):
                            // A new upload, or the takeover of an unfinished one (parked, or still held by a
                            // connection that has not noticed yet that it is dead): READY with the durable offset.
                            let (slot, offset) = parking.begin(
                                submission, owner: owner,
                                onLost: { output.post(.lost(requestID: requestID)) })
                            uploads[requestID] = slot
                            output.post(.ready(requestID: requestID, offset: offset))
                        }
                    } catch {
                        let failure = ProtocolError.from(error)
                        BrokerMetrics.rejected(failure.code).increment()
                        // Parsed again only on refusal (the broker keeps no envelope it refused): nil after check 2.
                        let envelope = try? Envelope(parsingCanonical: bytes, limits: broker.configuration.limits)
                        refusals.submission(requestID: requestID, failure, envelope: envelope)
                        // Without `atFinish`, a check-1 refusal (the participant itself) earns no receipt.
                        if let envelope, let receipt = broker.rejectedReceipt(for: envelope, participant: participant, refusal: failure) {
                            output.post(.rejected(requestID: requestID, error: failure, receipt: receipt, chunkBytes: nil))
                        } else {
                            output.post(.failed(requestID: requestID, error: failure))
                        }
                    }
                case .chunk(let requestID, let offset, let data):
                    let count = data.readableBytes
                    guard let slot = uploads[requestID] else {
                        output.post(.chunkDone(requestID: requestID, bytes: count, error: nil))
                        continue
                    }
                    do {
                        let appended: Void? = try slot.use(as: owner) { try $0.append(Array(data.readableBytesView), at: offset) }
                        guard appended != nil else {
                            uploads[requestID] = nil
                            output.post(.chunkDone(requestID: requestID, bytes: count, error: Self.takenOver(requestID)))
                            continue
                        }
                        output.post(.chunkDone(requestID: requestID, bytes: count, error: nil))
                    } catch {
                        let failure = ProtocolError.from(error)
                        slot.use(as: owner) { $0.abort() }
                        parking.remove(slot)
                        uploads[requestID] = nil
                        BrokerMetrics.rejected(failure.code).increment()
                        refusals.submission(requestID: requestID, failure, envelope: slot.envelope)
                        if let receipt = broker.rejectedReceipt(for: slot.envelope, participant: participant, refusal: failure) {
                            output.post(.rejected(requestID: requestID, error: failure, receipt: receipt, chunkBytes: count))
                        } else {
                            output.post(.chunkDone(requestID: requestID, bytes: count, error: failure))
                        }
                    }
                case .end(let requestID, let signature):
                    guard let slot = uploads.removeValue(forKey: requestID) else {
                        output.post(
                            .failed(requestID: requestID, error: ProtocolError(.unknownRequest, "upload \(requestID) is not in progress")))
                        continue
                    }
                    guard let submission = slot.release(as: owner) else {
                        output.post(.failed(requestID: requestID, error: Self.takenOver(requestID)))
                        continue
                    }
                    parking.remove(slot)
                    let handoff = SubmissionHandoff(submission)
                    inFlight += 1
                    finishing.addTask {
                        defer { finishedSignal.yield() }
                        let submission = handoff.submission
                        do {
                            let receipt = try await broker.finishSubmission(submission, signature: signature)
                            BrokerMetrics.accepted.increment()
                            BrokerMetrics.acceptedBytes.increment(by: Int64(clamping: submission.envelope.payloadLength))
                            output.post(.accepted(requestID: requestID, receipt: receipt, recipients: submission.envelope.recipients))
                        } catch {
                            let failure = ProtocolError.from(error)
                            BrokerMetrics.rejected(failure.code).increment()
                            refusals.submission(requestID: requestID, failure, envelope: submission.envelope)
                            if let receipt = broker.rejectedReceipt(
                                for: submission.envelope, participant: participant,
                                refusal: failure, atFinish: true)
                            {
                                output.post(.rejected(requestID: requestID, error: failure, receipt: receipt, chunkBytes: nil))
                            } else {
                                output.post(.failed(requestID: requestID, error: failure))
                            }
                        }
                    }
                case .abort(let requestID):
                    if let slot = uploads.removeValue(forKey: requestID) {
                        if slot.use(as: owner, { $0.abort() }) != nil { parking.remove(slot) }
                    }
                    output.post(.aborted(requestID: requestID))
                case .ack(let requestID, let statement, let signature):
                    inFlight += 1
                    finishing.addTask {
                        defer { finishedSignal.yield() }
                        do {
                            let receipt = try await broker.acknowledge(
                                from: participant, consumer: consumer, statement: statement, signature: signature)
                            BrokerMetrics.acknowledged.increment()
                            output.post(.acknowledged(requestID: requestID, receipt: receipt))
                        } catch {
                            let failure = ProtocolError.from(error)
                            refusals.acknowledgement(requestID: requestID, failure)
                            output.post(.failed(requestID: requestID, error: failure))
                        }
                    }
                case .nack(let requestID, let messageID, let delay):
                    do {
                        try broker.nack(from: participant, consumer: consumer, messageID: messageID, delay: .milliseconds(Int64(delay)))
                        output.post(.nacked(requestID: requestID, redeliverNow: delay == 0))
                    } catch {
                        output.post(.failed(requestID: requestID, error: .from(error)))
                    }
                case .status(let requestID, let messageID):
                    do {
                        let receipts = try broker.routingSlip(of: messageID, requester: id)
                        output.post(.slip(requestID: requestID, messageID: messageID, receipts: receipts))
                    } catch {
                        output.post(.failed(requestID: requestID, error: .from(error)))
                    }
                case .directory(let requestID, let looked):
                    do {
                        let (statement, signature) = try broker.directoryStatement(for: looked)
                        output.post(.directory(answer: .init(requestID: requestID, statement: statement, signature: signature)))
                    } catch {
                        output.post(.failed(requestID: requestID, error: .from(error)))
                    }
                }
            }
        }
    }

    /// The request id of a work item that starts a request (and so counts against the request rate), else nil.
    static func rateLimitedRequestID(_ item: RequestWork) -> UInt32? {
        switch item {
        case .begin(let id, _, _), .ack(let id, _, _), .nack(let id, _, _), .status(let id, _), .directory(let id, _): return id
        case .chunk, .end, .abort: return nil
        }
    }

    /// The answer to a frame for an upload another connection took over (SPEC.md §9.3).
    static func takenOver(_ requestID: UInt32) -> ProtocolError {
        ProtocolError(
            .unknownRequest,
            "upload \(requestID) was resumed on another connection (same sender and client message id), which now owns it; continue there")
    }

    /// SEND_END / ACK finishing concurrently on one connection (each holds one verified message until it is durable).
    static let maxConcurrentFinishes = 1024

    /// FETCH and push deliveries, one message at a time (never interleaved). Releases the connection's leases when
    /// the lane ends (the connection closed).
    static func runDeliveries(
        broker: Broker, participant: Participant, consumer: ConsumerID, clientMaxFrameSize: UInt32,
        visibility: Duration, jobs: AsyncStream<DeliveryJob>, output: SessionOutput
    ) async {
        defer { broker.disconnected(consumer: consumer) }
        let chunkSize = Frame.maxChunkData(
            maxFrameSize: clientMaxFrameSize, maxChunkSize: broker.configuration.limits.maxChunkSize,
            deliver: true)
        let deliverer = Deliverer(
            broker: broker, output: output, chunkSize: max(1, chunkSize), clientMaxFrameSize: clientMaxFrameSize,
            participant: participant, consumer: consumer)
        for await job in jobs {
            switch job {
            case .fetch(let requestID, let max, let resume):
                var delivered = 0
                var remaining = max
                var filled = false
                do {
                    var resumePoint = resume
                    // The resumed message goes first, wherever it is: leased to the cut connection the broker still
                    // thinks alive (the lease moves here), or ready anywhere in the queue.
                    if let point = resume,
                        let taken = try await broker.leaseForResume(
                            for: participant, consumer: consumer, messageID: point.messageID,
                            visibility: visibility)
                    {
                        if try await deliverer.deliver(taken, requestID: requestID, offset: point.offset) { delivered += 1 }
                        remaining -= 1
                        filled = remaining == 0
                        resumePoint = nil
                    }
                    while remaining > 0 {
                        let batch = min(remaining, broker.configuration.maxLeaseBatch)
                        var leased = try await broker.lease(for: participant, consumer: consumer, max: batch, visibility: visibility)
                        // A resumed delivery goes first, from the client's offset (only if it is leased to us now).
                        var resumeOffset: (MessageID, UInt64)? = nil
                        if let point = resumePoint, let i = leased.firstIndex(where: { $0.messageID == point.messageID }) {
                            leased.insert(leased.remove(at: i), at: 0)
                            resumeOffset = (point.messageID, point.offset)
                        }
                        resumePoint = nil
                        for delivery in leased {
                            let offset = resumeOffset.flatMap { $0.0 == delivery.messageID ? $0.1 : nil } ?? 0
                            if try await deliverer.deliver(delivery, requestID: requestID, offset: offset) { delivered += 1 }
                        }
                        remaining -= leased.count
                        filled = leased.count == batch
                        if !filled { break }
                    }
                    // More is available if the FETCH was filled and the queue still holds a ready entry (amortised
                    // O(1): browsing would filter and sort the whole queue under the store lock).
                    let more = remaining == 0 && filled && broker.store.hasReady(recipient: participant.id)
                    output.post(.fetchFinished(requestID: requestID, delivered: delivered, moreAvailable: more))
                } catch {
                    output.post(.fetchFailed(requestID: requestID, delivered: delivered, error: .from(error)))
                }
            case .push(let requestID, let max):
                var delivered = 0
                do {
                    let leased = try await broker.lease(
                        for: participant, consumer: consumer,
                        max: min(max, broker.configuration.maxLeaseBatch), visibility: visibility)
                    for delivery in leased {
                        if try await deliverer.deliver(delivery, requestID: requestID, offset: 0) { delivered += 1 }
                    }
                    // Credits are spent per DELIVER_BEGIN; the rest go back to the subscription.
                    output.post(.pushFinished(requestID: requestID, delivered: delivered, requested: max, error: nil))
                } catch {
                    output.post(.pushFinished(requestID: requestID, delivered: delivered, requested: max, error: .from(error)))
                }
            }
        }
    }

    /// Receipt events of the participant's sent messages on a subscription, until the connection closes (the task is
    /// cancelled, which ends the stream and unregisters it from the broker).
    static func runReceipts(_ stream: AsyncStream<SignedReceipt>, requestID: UInt32, output: SessionOutput) async {
        for await receipt in stream {
            do { try await output.write(.receipt(.init(requestID: requestID, receipt: receipt))) } catch { return }
        }
    }
}
