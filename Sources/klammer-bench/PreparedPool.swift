import Foundation
import KlammerClient
import KlammerProtocol
import Synchronization

/// The signed messages of one producer connection, shared by all its unconfirmed-send slots.
///
/// Batches (one CMS over a Merkle root per `batchSize` messages, SPEC.md §5.5/§5.6) are signed before the workload's
/// timer starts (`initialBatches`), so the broker verifies one CMS per `batchSize` messages and the client signs each
/// batch once. Every slot takes the next message in order, so a batch's members go out together on one connection. If
/// a fast run uses up the batches signed beforehand, the slot that finds fewer than `lowWater` messages left signs one
/// more batch (inline; one slot at a time, or any slot that finds the queue empty); those are counted
/// (`batchesSignedDuringRun`) and their cost is in the client CPU the bench reports. Bounded: batches are signed only
/// when fewer than `lowWater` messages are left, so the queue never holds more than `initialBatches` batches plus the
/// few being signed.
final class PreparedPool: Sendable {
    struct Template: Sendable {
        var credentials: ClientCredentials
        var recipients: [ParticipantID]
        var payload: [UInt8]
        var digest: SHA256Digest
        var batchSize: Int
        var tag: String
    }

    private struct State {
        var queue: [PreparedMessage] = []
        var head = 0
        var refilling = false
        var nextBatch = 0
        var signedDuringRun = 0
        var failure: String?
    }

    private let template: Template
    private let state = Mutex(State())
    private let lowWater: Int

    /// Signs `initialBatches` batches now (before the timer).
    init(_ template: Template, initialBatches: Int) throws {
        self.template = template
        lowWater = template.batchSize
        var initial: [PreparedMessage] = []
        initial.reserveCapacity(initialBatches * template.batchSize)
        for index in 0..<max(1, initialBatches) { initial += try Self.sign(template, batch: index) }
        let count = max(1, initialBatches)
        state.withLock { state in
            state.queue = initial
            state.nextBatch = count
        }
    }

    /// Batches signed by `take()` after the pool was created (zero when the batches signed beforehand sufficed).
    var batchesSignedDuringRun: Int { state.withLock { $0.signedDuringRun } }

    /// The next message to send, or the error of signing a further batch.
    func take() -> Result<PreparedMessage, KlammerClientError> {
        enum Step { case message(PreparedMessage, refill: Int?), sign(Int), failed(String) }
        let step: Step = state.withLock { state in
            if let failure = state.failure { return .failed(failure) }
            guard state.head < state.queue.count else {
                // Ran dry while another slot signs: sign one more here rather than wait.
                state.nextBatch += 1
                return .sign(state.nextBatch - 1)
            }
            let message = state.queue[state.head]
            state.head += 1
            if state.head >= 4096, state.head * 2 >= state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            var refill: Int? = nil
            if !state.refilling, state.queue.count - state.head < lowWater {
                state.refilling = true
                state.nextBatch += 1
                refill = state.nextBatch - 1
            }
            return .message(message, refill: refill)
        }
        switch step {
        case .message(let message, let refill):
            if let refill { _ = self.sign(batch: refill, keepFirst: false, lowWaterRefill: true) }
            return .success(message)
        case .sign(let index):
            return self.sign(batch: index, keepFirst: true, lowWaterRefill: false)
        case .failed(let text):
            return .failure(Self.failure(text))
        }
    }

    /// Signs batch `index` during the run and queues it (all of it, or all but the first message, which is returned).
    private func sign(batch index: Int, keepFirst: Bool, lowWaterRefill: Bool) -> Result<PreparedMessage, KlammerClientError> {
        do {
            var batch = try Self.sign(template, batch: index)
            let first = batch[0]
            if keepFirst { batch.removeFirst() }
            state.withLock { state in
                state.queue += batch
                if lowWaterRefill { state.refilling = false }
                state.signedDuringRun += 1
            }
            return .success(first)
        } catch {
            let text = "\(error)"
            state.withLock { state in
                if state.failure == nil { state.failure = text }
                if lowWaterRefill { state.refilling = false }
            }
            return .failure(Self.failure(text))
        }
    }

    private static func failure(_ text: String) -> KlammerClientError {
        KlammerClientError(.invalidArgument, "bench: cannot sign a further batch of messages: \(text)")
    }

    /// One batch of `batchSize` messages with one signature; client message ids `bench-<tag>-<random>-<n>` (one
    /// random part per batch: a getrandom syscall per message was 10 % of the client's CPU, perf).
    @inline(never)
    static func sign(_ template: Template, batch: Int) throws -> [PreparedMessage] {
        let now = UInt64(Date().timeIntervalSince1970 * 1000)
        var items: [(envelope: Envelope, payload: PayloadSource)] = []
        items.reserveCapacity(template.batchSize)
        let prefix = "bench-\(template.tag)-" + MessageID.random().hex + "-"
        for index in 0..<template.batchSize {
            let envelope = try Envelope(
                clientMessageID: prefix + String(index), sender: template.credentials.participantID!,
                recipients: template.recipients, subject: "bench", contentType: "application/octet-stream",
                createdAtMillis: now, payloadLength: UInt64(template.payload.count), payloadDigest: template.digest,
                timeToLiveSeconds: nil, conversationID: nil, inReplyTo: nil)
            items.append((envelope, .bytes(template.payload)))
        }
        return try PreparedMessage.signBatch(items, credentials: template.credentials)
    }
}
