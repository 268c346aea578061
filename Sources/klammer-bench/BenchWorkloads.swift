import Foundation
import KlammerClient
import KlammerProtocol
import Synchronization

/// The `klammer-bench` workloads (README "Benchmarks"). Each returns one `BenchResult`; the broker's CPU and RSS are
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

    /// The durable-append latency of the machine (p50, p99 ms), measured once per run and printed beside each result.
    let fsync: (p50: Double, p99: Double)?

    /// Batches signed per producer connection before the timer starts (`batchSize` messages each); a run that sends
    /// more signs further batches as it goes (counted in the note and in the client CPU).
    static let initialBatchesPerConnection = 32

    /// A connection's pool of `size`-byte messages to `recipients`, its first batches signed now (before the timer).
    func pool(
        _ credentials: ClientCredentials, recipients: [ParticipantID], payload: [UInt8], digest: SHA256Digest,
        tag: String, batches: Int = initialBatchesPerConnection
    ) throws -> PreparedPool {
        try PreparedPool(
            PreparedPool.Template(
                credentials: credentials, recipients: recipients, payload: payload, digest: digest,
                batchSize: batchSize, tag: tag),
            initialBatches: batches)
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
    func brokerSample() -> ProcessSample? { brokerPID.flatMap(ProcessSample.take) }

    /// The broker's and the bench's own CPU now (taken when a workload's timer starts).
    func sample() -> BenchSample { BenchSample(broker: brokerSample(), client: .take()) }

    /// Builds the result from the recorder and the samples taken before and after the workload.
    func finish(
        _ name: String, before: BenchSample?, recorder: LatencyRecorder, seconds: Double, note: String?,
        extra: [String: Double] = [:]
    ) -> BenchResult {
        let after = brokerSample()
        let clientAfter = ClientCPUSample.take()
        let ops = Double(recorder.operations)
        var result = BenchResult(
            workload: name, msgsPerSecond: seconds > 0 ? ops / seconds : 0,
            mibPerSecond: seconds > 0 ? Double(recorder.bytes) / 1_048_576 / seconds : 0,
            p50Millis: recorder.percentileMillis(50), p90Millis: recorder.percentileMillis(90),
            p99Millis: recorder.percentileMillis(99), maxMillis: recorder.maxMillis, errors: recorder.errors,
            durability: durability, tls: tls, brokerCPU: nil, brokerRSSMiB: after.map { Double($0.rssBytes) / 1_048_576 },
            extra: extra, note: note)
        result.p999Millis = recorder.percentileMillis(99.9)
        result.fsyncP50Millis = fsync?.p50
        result.fsyncP99Millis = fsync?.p99
        if let before {
            if let brokerBefore = before.broker, let after {
                result.brokerCPU = ProcessSample.cores(from: brokerBefore, to: after)
                if ops > 0 { result.brokerMicrosPerMessage = (after.cpuSeconds - brokerBefore.cpuSeconds) * 1_000_000 / ops }
            }
            let client = clientAfter.since(before.client)
            result.clientCPU = client.cores
            if ops > 0 { result.clientMicrosPerMessage = client.seconds * 1_000_000 / ops }
        }
        if let first = recorder.firstError { result.note = [note, "first error: \(first)"].compactMap { $0 }.joined(separator: "; ") }
        return result
    }

    /// "batch-signed ×N", and how many batches had to be signed while the timer ran (their cost is in the client CPU).
    func signingNote(_ pools: [PreparedPool], batches: Int = initialBatchesPerConnection) -> String {
        let during = pools.reduce(0) { $0 + $1.batchesSignedDuringRun }
        let before = pools.count * batches
        return "batch-signed ×\(batchSize), \(before) batches signed before the timer" + (during > 0 ? ", \(during) during the run" : "")
    }

    /// Producers: `connections` connections with `window` unconfirmed sends each, `size`-byte messages, counted at
    /// the `accepted` receipt (W1: 4 × 256 × 1 KiB; W3: 1 × 4 × 1 MiB). Closed loop (each slot sends again as soon as
    /// its last send was accepted) unless `rate`: then open loop (W1-open), `rate` msgs/s spread over the
    /// connections, the slots only bounding how many are in flight, latency from each message's intended send time.
    func producers(_ name: String, connections: Int, window: Int, size: Int, rate: Int? = nil) async throws -> BenchResult {
        let credentials = try ClientCredentials.load(sender)
        let payload = [UInt8](repeating: 0x42, count: size)
        let digest = try PayloadSource.bytes(payload).measure().digest
        let batches = rate.map { initialBatches(rate: $0, connections: connections) } ?? Self.initialBatchesPerConnection
        var clients: [KlammerClient] = []
        var pools: [PreparedPool] = []
        for index in 0..<connections {
            clients.append(try await KlammerClient.connect(profile: sender))
            pools.append(
                try pool(
                    credentials, recipients: [recipientID], payload: payload, digest: digest,
                    tag: "\(name)-\(index)", batches: batches))
        }
        let recorder = LatencyRecorder()
        let before = sample()
        let start = ContinuousClock.now
        let schedule = rate.map { OpenLoopSchedule(start: start, rate: $0, duration: duration, lanes: connections) }
        let stop = start + (schedule == nil ? duration : Self.openLoopCutOff(duration))
        let connected = clients, shared = pools
        await Self.runWorkers(connections * window) { i in
            await Self.sendSlot(
                lane: i / window, client: connected[i / window], pool: shared[i / window], schedule: schedule,
                until: stop, recorder: recorder, willSend: { _, _ in }
            ) { _, from, error in
                if let error { recorder.fail(error) } else { recorder.record(.now - from, bytes: size) }
            }
        }
        let end = ContinuousClock.now
        let unsent = Self.recordUnsent(schedule, at: end, recorder: recorder)
        let loop =
            rate.map { "open loop at \($0) msgs/s, latency from the intended send time, \(connections) conn ≤ \(window) in flight each" }
            ?? "\(connections) conn × \(window) unconfirmed"
        var result = finish(
            name, before: before, recorder: recorder, seconds: (end - start) / .seconds(1),
            note: "\(loop), \(size) B, " + signingNote(pools, batches: batches) + Self.unsentNote(unsent),
            extra: rate == nil ? [:] : ["unsent": Double(unsent)])
        result.targetRate = rate.map(Double.init)
        for client in clients { await client.close() }
        return result
    }

    /// Open loop: sending may run late past the duration; after another duration (at least 2 s) it is cut off.
    static func openLoopCutOff(_ duration: Duration) -> Duration { duration + max(duration, .seconds(2)) }

    /// Batches to sign before an open-loop run: what its schedule needs per connection plus one (the pool signs
    /// another when fewer than a batch are left), at most the usual number.
    func initialBatches(rate: Int, connections: Int) -> Int {
        let messages = Double(rate) * (duration / .seconds(1)) / Double(max(1, connections))
        return max(1, min(Self.initialBatchesPerConnection, Int((messages / Double(batchSize)).rounded(.up)) + 1))
    }

    /// Messages of a cut-off open-loop run that were never sent go into the histogram at their lower bound (due →
    /// the end of the run), so an overloaded broker cannot improve its percentiles by not taking messages.
    static func recordUnsent(_ schedule: OpenLoopSchedule?, at end: ContinuousClock.Instant, recorder: LatencyRecorder) -> Int {
        guard let schedule else { return 0 }
        let due = schedule.untaken()
        for instant in due { recorder.recordLowerBound(end - instant) }
        return due.count
    }

    static func unsentNote(_ unsent: Int) -> String {
        unsent > 0 ? ", \(unsent) not sent before the cut-off (in the percentiles at their lower bound)" : ""
    }

    /// One send slot of a producer connection, until `stop`. Closed loop (no schedule): the connection's next prepared
    /// message as soon as the last send was accepted, timed from the send. Open loop: the lane's next scheduled
    /// message, sent at its due time or, if the slot is late, at once, timed from its due time.
    @inline(never)
    static func sendSlot(
        lane: Int, client: KlammerClient, pool: PreparedPool, schedule: OpenLoopSchedule?,
        until stop: ContinuousClock.Instant, recorder: LatencyRecorder,
        willSend: @Sendable (PreparedMessage, ContinuousClock.Instant) -> Void,
        sent: @Sendable (PreparedMessage, ContinuousClock.Instant, (any Error)?) -> Void
    ) async {
        while ContinuousClock.now < stop {
            var due: ContinuousClock.Instant? = nil
            if let schedule {
                guard let next = schedule.take(lane: lane) else { return }
                if next.due > .now { try? await Task.sleep(until: next.due, clock: .continuous) }
                due = next.due
            }
            let message: PreparedMessage
            switch pool.take() {
            case .success(let next): message = next
            case .failure(let error): recorder.fail(error); return
            }
            let from = due ?? .now
            willSend(message, from)
            sent(message, from, await Self.send(message, on: client))
        }
    }

    /// W2: one producer and one consumer; the consumer acknowledges every message; latency from the start of the
    /// send to the verified delivery at the consumer. Closed loop with 128 unconfirmed sends, or with `rate` open loop
    /// (W2-open: ≤ `window` in flight, latency from the intended send time).
    func endToEnd(rate: Int? = nil, window openWindow: Int = 256) async throws -> BenchResult {
        let name = rate == nil ? "W2" : "W2-open"
        let credentials = try ClientCredentials.load(sender)
        let payload = [UInt8](repeating: 0x43, count: 1024)
        let digest = try PayloadSource.bytes(payload).measure().digest
        let producer = try await KlammerClient.connect(profile: sender)
        let receiver = try await KlammerClient.connect(profile: consumer)
        let subscription = try await receiver.subscribe(credits: 512)
        let batches = rate.map { initialBatches(rate: $0, connections: 1) } ?? Self.initialBatchesPerConnection
        let messages = try pool(credentials, recipients: [consumerID], payload: payload, digest: digest, tag: name, batches: batches)
        let sentAt = BenchBox<[String: ContinuousClock.Instant]>([:])
        let producing = BenchBox(true)
        let recorder = LatencyRecorder()
        let before = sample()
        let start = ContinuousClock.now
        let schedule = rate.map { OpenLoopSchedule(start: start, rate: $0, duration: duration, lanes: 1) }
        let stop = start + (schedule == nil ? duration : Self.openLoopCutOff(duration))
        let window = rate == nil ? 128 : openWindow
        let consumerTask = Task {
            await withTaskGroup(of: Void.self) { acks in
                var pending = 0
                do {
                    for try await message in subscription.messages {
                        // A message left over from an earlier run is acknowledged too (else it would come back in
                        // every later run and load the broker there) but not timed.
                        if let sent = sentAt.withLock({ $0.removeValue(forKey: message.envelope.clientMessageID) }) {
                            recorder.record(.now - sent, bytes: Int(message.payloadLength))
                        }
                        acks.addTask {
                            do { _ = try await receiver.acknowledge(message) } catch { recorder.fail(error) }
                        }
                        pending += 1
                        if pending >= 256 { await acks.next(); pending -= 1 }
                        if !producing.withLock({ $0 }), sentAt.withLock({ $0.isEmpty }) { break }
                    }
                } catch { recorder.fail(error) }
            }
        }
        await Self.runWorkers(window) { _ in
            await Self.sendSlot(
                lane: 0, client: producer, pool: messages, schedule: schedule, until: stop, recorder: recorder,
                willSend: { message, from in sentAt.withLock { $0[message.envelope.clientMessageID] = from } }
            ) { message, _, error in
                if let error {
                    _ = sentAt.withLock { $0.removeValue(forKey: message.envelope.clientMessageID) }
                    recorder.fail(error)
                }
            }
        }
        producing.withLock { $0 = false }
        let unsent = Self.recordUnsent(schedule, at: .now, recorder: recorder)
        // Let the consumer drain what was accepted (bounded).
        let drainDeadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < drainDeadline, !sentAt.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(20)) }
        let end = ContinuousClock.now
        let seconds = (end - start) / .seconds(1)
        let undelivered = sentAt.withLock { Array($0.values) }
        let lost = undelivered.count
        // Open loop: what was not delivered enters the histogram at its lower bound too (see recordUnsent).
        if rate != nil { for due in undelivered { recorder.recordLowerBound(end - due) } }
        let loop =
            rate.map { "open loop at \($0) msgs/s, latency from the intended send time, ≤ \(window) in flight" }
            ?? "\(window) unconfirmed"
        var result = finish(
            name, before: before, recorder: recorder, seconds: seconds,
            note: "1 producer (\(loop)) + 1 consumer acking each, 1 KiB, " + signingNote([messages], batches: batches)
                + (lost > 0 ? ", \(lost) not delivered in time" + (rate == nil ? "" : " (in the percentiles at their lower bound)") : "")
                + Self.unsentNote(unsent),
            extra: rate == nil ? [:] : ["unsent": Double(unsent), "undelivered": Double(lost)])
        result.targetRate = rate.map(Double.init)
        consumerTask.cancel()
        await producer.close()
        await receiver.close()
        return result
    }
}
