public import KlammerProtocol
import Synchronization

/// Open uploads (SEND_BEGIN answered with READY, SEND_END not yet received) per participant and broker-wide, over
/// all connections (SPEC.md §9.4). Each one pins up to `maxInlinePayload` bytes of memory or, beyond, a blob part
/// file's descriptor, so both are bounded: a SEND_BEGIN past either limit is refused with QUOTA_EXCEEDED (retryable:
/// it succeeds once another upload finishes). The per-connection limit is the session state machine's
/// (`SessionConfiguration.maxOpenUploadsPerConnection`). Parked uploads are bounded by ``UploadParking`` instead.
public final class UploadQuota: Sendable {
    /// Most open uploads of one participant over all its connections.
    public let perParticipant: Int
    /// Most open uploads in the whole broker.
    public let total: Int
    private let state = Mutex<(byParticipant: [ParticipantID: Int], total: Int)>(([:], 0))

    /// Creates the quota (defaults: 1024 per participant, 4096 in all).
    public init(perParticipant: Int = 1024, total: Int = 4096) {
        self.perParticipant = max(1, perParticipant)
        self.total = max(1, total)
    }

    /// Open uploads now (of `participant`, or in all).
    public func count(of participant: ParticipantID? = nil) -> Int {
        state.withLock { s in participant.map { s.byParticipant[$0] ?? 0 } ?? s.total }
    }

    /// Takes one upload for `participant`; the refusal (QUOTA_EXCEEDED) if a limit is reached. Every success must be
    /// matched by one ``release(_:)``.
    func acquire(_ participant: ParticipantID) -> ProtocolError? {
        state.withLock { s in
            let mine = s.byParticipant[participant] ?? 0
            guard mine < perParticipant else {
                return ProtocolError(
                    .quotaExceeded,
                    "\(participant) has \(mine) uploads open over all its connections (limit \(perParticipant), limits.max_open_uploads_per_participant); finish or cancel one, then retry"
                )
            }
            guard s.total < total else {
                return ProtocolError(
                    .quotaExceeded,
                    "the broker has \(s.total) uploads open (limit \(total), limits.max_open_uploads); retry when one has finished")
            }
            s.byParticipant[participant] = mine + 1
            s.total += 1
            return nil
        }
    }

    /// Gives back one upload taken by ``acquire(_:)``.
    func release(_ participant: ParticipantID, count: Int = 1) {
        guard count > 0 else { return }
        state.withLock { s in
            let left = (s.byParticipant[participant] ?? 0) - count
            s.byParticipant[participant] = left > 0 ? left : nil
            s.total = max(0, s.total - count)
        }
    }
}
