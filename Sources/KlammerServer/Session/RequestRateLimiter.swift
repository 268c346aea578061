public import KlammerProtocol
import Synchronization

/// Requests per second per participant over all its connections (SPEC.md §9.3): SEND_BEGIN, ACK, NACK,
/// STATUS_REQUEST and DIRECTORY_LOOKUP each take a token of the participant's ``TokenBucket``; without one the request
/// is answered ERROR(id, `RATE_LIMITED`) with the wait in the message. Memory: one bucket per participant that
/// sent a request (participants are registered, so bounded by the registry).
public final class RequestRateLimiter: Sendable {
    /// Requests per second allowed per participant (0: off).
    public let perSecond: Int
    /// Burst allowed per participant.
    public let burst: Int
    private let buckets = Mutex<[ParticipantID: TokenBucket]>([:])
    private let start = ContinuousClock.now

    /// Creates the limiter (defaults: 10,000 requests per second, burst 20,000).
    public init(perSecond: Int = 10_000, burst: Int? = nil) {
        self.perSecond = max(0, perSecond)
        self.burst = max(1, burst ?? 2 * perSecond)
    }

    /// Takes one request of `participant` at `now` (ms; the limiter's own clock when nil); the refusal if over the rate.
    func admit(_ participant: ParticipantID, now: Int64? = nil) -> ProtocolError? {
        guard perSecond > 0 else { return nil }
        let t = now ?? Int64((ContinuousClock.now - start) / .milliseconds(1))
        return buckets.withLock { b -> ProtocolError? in
            var bucket = b[participant] ?? TokenBucket(ratePerSecond: perSecond, burst: burst)
            defer { b[participant] = bucket }
            if bucket.take(now: t) { return nil }
            return ProtocolError(
                .rateLimited,
                "\(participant) sends more than \(perSecond) requests per second (limits.max_requests_per_second); retry after \(max(1, bucket.millisUntilNext(now: t))) ms"
            )
        }
    }
}
