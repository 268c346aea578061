import KlammerBroker
import KlammerProtocol
import Synchronization

/// Unfinished uploads of closed connections, kept so that a sender can resume on a new connection (SPEC.md §4.8,
/// §9.3): SEND_BEGIN with the same sender, client message id and envelope is answered READY(k) with the k payload
/// bytes already received, and the upload continues at k.
///
/// Bounded: at most `maxUploads` parked (the oldest is discarded first) for at most `lifetime` (kept below the
/// store's `blobAbandonTimeout`, after which the store sweeps the part file). Lives as long as the broker process;
/// a restart loses parked uploads (the sender starts again at 0).
public final class UploadParking: Sendable {
    /// A parked upload. `PayloadSubmission` is not Sendable; handing it over is safe because exactly one party
    /// owns it at any time: a request lane parks it and never touches it again, and a lane (or eviction) takes it
    /// out under the lock before using it, so no two tasks can reach the same submission.
    final class Parked: @unchecked Sendable {
        let submission: PayloadSubmission
        let parkedAt: ContinuousClock.Instant
        init(_ submission: PayloadSubmission) {
            self.submission = submission
            self.parkedAt = .now
        }
    }

    private struct Key: Hashable { var sender: ParticipantID; var clientMessageID: String }
    private let parked = Mutex<[Key: Parked]>([:])
    /// Most uploads parked at once.
    public let maxUploads: Int
    /// How long an upload stays parked.
    public let lifetime: Duration

    /// Creates an empty parking (defaults: 256 uploads, 50 minutes).
    public init(maxUploads: Int = 256, lifetime: Duration = .seconds(3000)) {
        self.maxUploads = maxUploads
        self.lifetime = lifetime
    }

    /// Number of parked uploads.
    public var count: Int { parked.withLock { $0.count } }

    /// Parks an unfinished upload (one with payload bytes received); others are discarded.
    func park(_ submission: PayloadSubmission) {
        guard submission.receivedBytes > 0 else {
            submission.abort()
            return
        }
        let key = Key(sender: submission.envelope.sender, clientMessageID: submission.envelope.clientMessageID)
        let evicted: [Parked] = parked.withLock { map in
            var out: [Parked] = []
            if let old = map.updateValue(Parked(submission), forKey: key) { out.append(old) }
            out += expire(&map)
            while map.count > maxUploads, let oldest = map.min(by: { $0.value.parkedAt < $1.value.parkedAt }) {
                out.append(map.removeValue(forKey: oldest.key)!)
            }
            return out
        }
        for p in evicted { p.submission.abort() }
    }

    /// Takes the parked upload of exactly this envelope and signature form, if any (nil for another envelope under the
    /// same key, which stays parked until it expires or is replaced).
    func take(for envelope: Envelope, form: SignatureForm) -> PayloadSubmission? {
        let key = Key(sender: envelope.sender, clientMessageID: envelope.clientMessageID)
        let (found, evicted): (Parked?, [Parked]) = parked.withLock { map in
            let evicted = expire(&map)
            guard let p = map[key], p.submission.envelope == envelope, p.submission.signatureForm == form else { return (nil, evicted) }
            map[key] = nil
            return (p, evicted)
        }
        for p in evicted { p.submission.abort() }
        return found?.submission
    }

    private func expire(_ map: inout [Key: Parked]) -> [Parked] {
        let cutoff = ContinuousClock.now - lifetime
        let old = map.filter { $0.value.parkedAt < cutoff }
        for k in old.keys { map[k] = nil }
        return Array(old.values)
    }

    deinit {
        for p in parked.withLock({ $0.values }) { p.submission.abort() }
    }
}
