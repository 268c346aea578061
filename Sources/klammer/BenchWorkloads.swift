import Foundation
import KlammerClient
import KlammerProtocol
import Synchronization

/// The `klammer bench` workloads (README "Benchmarks"). Each returns one `BenchResult`; the broker's CPU and RSS are
/// sampled around it when the bench started the broker itself.
struct BenchWorkloads: Sendable {
    let sender: ClientProfile
    let recipient: ClientProfile
    let consumer: ClientProfile
    let recipientID: ParticipantID
    let consumerID: ParticipantID
    let duration: Duration
    let brokerPID: Int32?
    let durability: String
    let tls: String
    let idleConnections: Int
    let batchSize: Int

    /// Messages of `size` bytes to `recipients`, signed as batches of `batchSize` (one CMS per batch).
    @inline(never)
    func prepareBatch(_ credentials: ClientCredentials, recipients: [ParticipantID], payload: [UInt8],
                      digest: SHA256Digest, tag: String) throws -> [PreparedMessage] {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        var items: [(envelope: Envelope, payload: PayloadSource)] = []
        items.reserveCapacity(batchSize)
        // One random part per batch, not per message: a getrandom syscall each was 10 % of the client's CPU (perf).
        let prefix = "bench-\(tag)-" + MessageID.random().hex + "-"
        for index in 0..<batchSize {
            let envelope = try Envelope(
                clientMessageID: prefix + String(index), sender: credentials.participantID!,
                recipients: recipients, subject: "bench", contentType: "application/octet-stream",
                createdAtMillis: now, payloadLength: UInt64(payload.count), payloadDigest: digest,
                timeToLiveSeconds: nil, conversationID: nil, inReplyTo: nil)
            items.append((envelope, .bytes(payload)))
        }
        return try PreparedMessage.signBatch(items, credentials: credentials)
    }

    /// Runs `count` concurrent workers and waits for all of them.
    static func runWorkers(_ count: Int, _ body: @escaping @Sendable (Int) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<count { group.addTask { await body(i) } }
        }
    }

    /// One send; the error instead of a (typed) throw. Keeping the typed-throwing call out of the task-group
    /// closures also avoids a Swift 6.3 optimizer crash (coroutine splitting) in release builds.
    @inline(never)
    static func send(_ message: PreparedMessage, on client: KlammerClient) async -> (any Error)? {
        do {
            _ = try await client.send(message)
            return nil
        } catch {
            return error
        }
    }

    /// The broker's CPU and RSS now (nil when the broker is not ours).
    func sample() -> ProcessSample? { brokerPID.flatMap(ProcessSample.take) }

    /// Builds the result from the recorder and the broker samples taken before and after the workload.
    func finish(_ name: String, before: ProcessSample?, recorder: LatencyRecorder, seconds: Double, note: String?,
                extra: [String: Double] = [:]) -> BenchResult {
        let after = brokerPID.flatMap(ProcessSample.take)
        var cpu: Double? = nil
        if let before, let after { cpu = ProcessSample.cores(from: before, to: after) }
        let ops = Double(recorder.operations)
        var result = BenchResult(
            workload: name, msgsPerSecond: seconds > 0 ? ops / seconds : 0,
            mibPerSecond: seconds > 0 ? Double(recorder.bytes) / 1_048_576 / seconds : 0,
            p50Millis: recorder.percentileMillis(50), p90Millis: recorder.percentileMillis(90),
            p99Millis: recorder.percentileMillis(99), maxMillis: recorder.maxMillis, errors: recorder.errors,
            durability: durability, tls: tls, brokerCPU: cpu, brokerRSSMiB: after.map { Double($0.rssBytes) / 1_048_576 },
            extra: extra, note: note)
        if let first = recorder.firstError { result.note = [note, "first error: \(first)"].compactMap { $0 }.joined(separator: "; ") }
        return result
    }

    /// Producers: `connections` connections with `window` unconfirmed sends each, `size`-byte messages, counted at
    /// the `accepted` receipt (W1: 4 × 256 × 1 KiB; W3: 1 × 4 × 1 MiB).
    func producers(_ name: String, connections: Int, window: Int, size: Int) async throws -> BenchResult {
        let credentials = try ClientCredentials.load(sender)
        let payload = [UInt8](repeating: 0x42, count: size)
        let digest = try PayloadSource.bytes(payload).measure().digest
        var clients: [KlammerClient] = []
        for _ in 0..<connections { clients.append(try await KlammerClient.connect(profile: sender)) }
        let recorder = LatencyRecorder()
        let before = sample()
        let start = ContinuousClock.now
        let deadline = start + duration
        let connected = clients
        await Self.runWorkers(connections * window) { i in
            await producerWorker(client: connected[i / window], credentials: credentials, payload: payload, digest: digest,
                                 tag: "\(name)-\(i)", deadline: deadline, recorder: recorder)
        }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        for client in clients { await client.close() }
        return finish(name, before: before, recorder: recorder, seconds: seconds,
                      note: "\(connections) conn × \(window) unconfirmed, \(size) B, batch-signed ×\(batchSize)")
    }

    /// One unconfirmed send slot of a producer connection: signs a batch, sends its members one after another, until
    /// the deadline.
    @inline(never)
    func producerWorker(client: KlammerClient, credentials: ClientCredentials, payload: [UInt8], digest: SHA256Digest,
                        tag: String, deadline: ContinuousClock.Instant, recorder: LatencyRecorder) async {
        while ContinuousClock.now < deadline {
            let batch: [PreparedMessage]
            do {
                batch = try prepareBatch(credentials, recipients: [recipientID], payload: payload, digest: digest, tag: tag)
            } catch {
                recorder.fail(error)
                return
            }
            for message in batch {
                if ContinuousClock.now >= deadline { break }
                let sent = ContinuousClock.now
                if let error = await Self.send(message, on: client) {
                    recorder.fail(error)
                } else {
                    recorder.record(.now - sent, bytes: payload.count)
                }
            }
        }
    }

    /// W2: one producer and one consumer; the consumer acknowledges every message; latency from the start of the
    /// send to the verified delivery at the consumer.
    func endToEnd() async throws -> BenchResult {
        let credentials = try ClientCredentials.load(sender)
        let payload = [UInt8](repeating: 0x43, count: 1024)
        let digest = try PayloadSource.bytes(payload).measure().digest
        let producer = try await KlammerClient.connect(profile: sender)
        let receiver = try await KlammerClient.connect(profile: consumer)
        let subscription = try await receiver.subscribe(credits: 512)
        let sentAt = BenchBox<[String: ContinuousClock.Instant]>([:])
        let sentCount = BenchBox(0)
        let recorder = LatencyRecorder()
        let before = sample()
        let start = ContinuousClock.now
        let deadline = start + duration
        let window = 128
        let consumerTask = Task {
            await withTaskGroup(of: Void.self) { acks in
                var pending = 0
                do {
                    for try await message in subscription.messages {
                        guard let sent = sentAt.withLock({ $0.removeValue(forKey: message.envelope.clientMessageID) }) else { continue }
                        recorder.record(.now - sent, bytes: Int(message.payloadLength))
                        acks.addTask {
                            do { _ = try await receiver.acknowledge(message) } catch { recorder.fail(error) }
                        }
                        pending += 1
                        if pending >= 256 { await acks.next(); pending -= 1 }
                        if ContinuousClock.now >= deadline, sentAt.withLock({ $0.isEmpty }) { break }
                    }
                } catch { recorder.fail(error) }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<window {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        let batch: [PreparedMessage]
                        do {
                            batch = try prepareBatch(credentials, recipients: [consumerID], payload: payload, digest: digest, tag: "W2-\(worker)")
                        } catch { recorder.fail(error); return }
                        for message in batch where ContinuousClock.now < deadline {
                            sentAt.withLock { $0[message.envelope.clientMessageID] = .now }
                            if let error = await Self.send(message, on: producer) {
                                _ = sentAt.withLock { $0.removeValue(forKey: message.envelope.clientMessageID) }
                                recorder.fail(error)
                            } else {
                                sentCount.withLock { $0 += 1 }
                            }
                        }
                    }
                }
            }
        }
        // Let the consumer drain what was accepted (bounded).
        let drainDeadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < drainDeadline, !sentAt.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        let seconds = (ContinuousClock.now - start) / .seconds(1)
        let lost = sentAt.withLock { $0.count }
        consumerTask.cancel()
        await producer.close()
        await receiver.close()
        return finish("W2", before: before, recorder: recorder, seconds: seconds,
                      note: "1 producer (\(window) unconfirmed) + 1 consumer acking each, 1 KiB\(lost > 0 ? ", \(lost) not delivered in time" : "")")
    }
}
