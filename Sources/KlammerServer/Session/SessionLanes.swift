import KlammerBroker
import KlammerProtocol
import KlammerStore
import NIOCore

/// The two serial lanes of a connection. Each runs in its own task so that a slow delivery (a recipient that reads
/// slowly) never stalls the same connection's uploads, and vice versa; within a lane, work is done in arrival order.
enum SessionLanes {
    /// Uploads, ACK, NACK, STATUS_REQUEST, in order. Holds the connection's `PayloadSubmission`s (task-confined).
    static func runRequests(broker: Broker, participant: Participant, id: ParticipantID, consumer: ConsumerID,
                            parking: UploadParking, work: AsyncStream<RequestWork>, output: SessionOutput) async {
        var uploads: [UInt32: PayloadSubmission] = [:]
        // Unfinished uploads outlive the connection for a while, so the sender can resume (SPEC.md §4.8).
        defer { for upload in uploads.values { parking.park(upload) } }
        // SEND_END and ACK wait for a durable append (fdatasync). Running them one after another would make a
        // connection pay one sync per message; finishing them in child tasks lets a pipelining client's messages
        // share the store's group commit. Bounded per connection; the lane waits for them before it ends.
        await withTaskGroup(of: Void.self) { finishing in
        var inFlight = 0
        for await item in work {
            if inFlight >= maxConcurrentFinishes, await finishing.next() != nil { inFlight -= 1 }
            switch item {
            case .begin(let requestID, let form, let bytes):
                do {
                    switch try broker.beginSubmission(from: participant, envelopeBytes: bytes, signatureForm: form) {
                    case .duplicate(let receipt):
                        output.post(.duplicate(requestID: requestID, receipt: receipt))
                    case .upload(let submission):
                        if let resumed = parking.take(for: submission.envelope, form: form) {
                            submission.abort()
                            uploads[requestID] = resumed
                            output.post(.ready(requestID: requestID, offset: resumed.receivedBytes))
                        } else {
                            uploads[requestID] = submission
                            output.post(.ready(requestID: requestID, offset: 0))
                        }
                    }
                } catch {
                    let failure = ProtocolError.from(error)
                    BrokerMetrics.rejected(failure.code).increment()
                    output.post(.failed(requestID: requestID, error: failure))
                }
            case .chunk(let requestID, let offset, let data):
                let count = data.readableBytes
                guard let submission = uploads[requestID] else {
                    output.post(.chunkDone(requestID: requestID, bytes: count, error: nil))
                    continue
                }
                do {
                    try submission.append(Array(data.readableBytesView), at: offset)
                    output.post(.chunkDone(requestID: requestID, bytes: count, error: nil))
                } catch {
                    submission.abort()
                    uploads[requestID] = nil
                    let failure = ProtocolError.from(error)
                    BrokerMetrics.rejected(failure.code).increment()
                    output.post(.chunkDone(requestID: requestID, bytes: count, error: failure))
                }
            case .end(let requestID, let signature):
                guard let submission = uploads.removeValue(forKey: requestID) else {
                    output.post(.failed(requestID: requestID, error: ProtocolError(.unknownRequest, "upload \(requestID) is not in progress")))
                    continue
                }
                let handoff = SubmissionHandoff(submission)
                inFlight += 1
                finishing.addTask {
                    let submission = handoff.submission
                    do {
                        let receipt = try await broker.finishSubmission(submission, signature: signature)
                        BrokerMetrics.accepted.increment()
                        BrokerMetrics.acceptedBytes.increment(by: Int64(clamping: submission.envelope.payloadLength))
                        output.post(.accepted(requestID: requestID, receipt: receipt, recipients: submission.envelope.recipients))
                    } catch {
                        let failure = ProtocolError.from(error)
                        BrokerMetrics.rejected(failure.code).increment()
                        output.post(.failed(requestID: requestID, error: failure))
                    }
                }
            case .abort(let requestID):
                uploads.removeValue(forKey: requestID)?.abort()
                output.post(.aborted(requestID: requestID))
            case .ack(let requestID, let statement, let signature):
                inFlight += 1
                finishing.addTask {
                    do {
                        let receipt = try await broker.acknowledge(from: participant, consumer: consumer, statement: statement, signature: signature)
                        BrokerMetrics.acknowledged.increment()
                        output.post(.acknowledged(requestID: requestID, receipt: receipt))
                    } catch {
                        output.post(.failed(requestID: requestID, error: .from(error)))
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

    /// SEND_END / ACK finishing concurrently on one connection (each holds one verified message until it is durable).
    static let maxConcurrentFinishes = 1024

    /// FETCH and push deliveries, one message at a time (never interleaved). Releases the connection's leases when
    /// the lane ends (the connection closed).
    static func runDeliveries(broker: Broker, participant: Participant, consumer: ConsumerID, clientMaxFrameSize: UInt32,
                              visibility: Duration, jobs: AsyncStream<DeliveryJob>, output: SessionOutput) async {
        defer { broker.disconnected(consumer: consumer) }
        let chunkSize = Frame.maxChunkData(maxFrameSize: clientMaxFrameSize, maxChunkSize: broker.configuration.limits.maxChunkSize,
                                           deliver: true)
        let deliverer = Deliverer(broker: broker, output: output, chunkSize: max(1, chunkSize), clientMaxFrameSize: clientMaxFrameSize,
                                  participant: participant, consumer: consumer)
        for await job in jobs {
            switch job {
            case .fetch(let requestID, let max, let resume):
                var delivered = 0
                var remaining = max
                var filled = false
                do {
                    var resumePoint = resume
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
                    // More is available if the FETCH was filled and the queue still holds an entry nobody leased
                    // (looked up among the first delivered + 64 entries, so the check stays bounded).
                    var more = false
                    if remaining == 0 && filled, let queued = try? broker.store.browse(recipient: participant.id, limit: delivered + 64) {
                        more = queued.contains { !$0.inFlight }
                    }
                    output.post(.fetchFinished(requestID: requestID, delivered: delivered, moreAvailable: more))
                } catch {
                    output.post(.fetchFailed(requestID: requestID, delivered: delivered, error: .from(error)))
                }
            case .push(let requestID, let max):
                var delivered = 0
                do {
                    let leased = try await broker.lease(for: participant, consumer: consumer,
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
