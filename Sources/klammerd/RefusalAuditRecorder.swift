import Dispatch
import KlammerAudit
import KlammerServer
import Logging
import ServiceLifecycle
import Synchronization

/// Writes the broker's refusals (``RefusalEvent``: refused connections, submissions and ACKs) to the audit log
/// (SPEC.md §10.4). Appends fsync, and refusals come from event loops and request tasks, so they are queued and
/// written by one serial dispatch queue. The queue is bounded: a client flooding bad requests cannot grow memory or
/// make the log grow without bound; refusals beyond `maxPending` are counted and written as one
/// `audit.refusals_dropped` entry once the queue has room again.
///
/// As a `Service` placed last in the group (so it is shut down first), it stops recording at graceful shutdown and
/// writes what is queued before `daemon.stop` and the final checkpoint are appended; refusals during the drain
/// after that are only logged.
final class RefusalAuditRecorder: Service, Sendable {
    private let audit: AuditLog
    private let logger: Logger
    private let queue = DispatchQueue(label: "klammerd.audit.refusals")
    private let counters = Mutex<(pending: Int, dropped: Int, stopped: Bool)>((0, 0, false))
    let maxPending: Int

    init(audit: AuditLog, logger: Logger, maxPending: Int = 1024) {
        self.audit = audit
        self.logger = logger
        self.maxPending = maxPending
    }

    /// Queues one refusal; returns at once.
    func record(_ event: RefusalEvent) {
        let admitted = counters.withLock { c in
            guard !c.stopped else { return false }
            guard c.pending < maxPending else { c.dropped += 1; return false }
            c.pending += 1
            return true
        }
        guard admitted else { return }
        queue.async { [self] in
            write(event)
            let dropped = counters.withLock { c in
                c.pending -= 1
                defer { c.dropped = 0 }
                return c.dropped
            }
            if dropped > 0 {
                append(action: "audit.refusals_dropped", subject: "", details: ["count": "\(dropped)"], actor: "klammerd")
            }
        }
    }

    /// Records until graceful shutdown, then writes what is queued and stops.
    func run() async throws {
        try? await gracefulShutdown()
        counters.withLock { $0.stopped = true }
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in queue.async { done.resume() } }
    }

    /// Waits until every queued refusal is written (tests, shutdown).
    func flush() {
        queue.sync {}
    }

    /// Runs `body` while the writer is held back (tests: fill the queue deterministically).
    func withWriterPaused(_ body: () -> Void) {
        queue.suspend()
        body()
        queue.resume()
    }

    private func write(_ event: RefusalEvent) {
        var details = event.details
        details["fingerprint"] = event.fingerprint
        details["code"] = "\(event.code.rawValue)"
        details["code_name"] = event.code.name
        details["reason"] = event.reason
        if event.requestID != 0 { details["request_id"] = "\(event.requestID)" }
        let actor = event.participant.map { "participant:\($0)" } ?? "certificate:\(event.fingerprint)"
        append(action: event.kind.rawValue, subject: event.participant ?? "", details: details, actor: actor)
    }

    private func append(action: String, subject: String, details: [String: String], actor: String) {
        do {
            try audit.append(actor: actor, action: action, subject: subject, outcome: .refused, details: details)
        } catch {
            logger.error("audit log: cannot record a refusal", metadata: ["action": "\(action)", "error": "\(error)"])
        }
    }
}
