public import KlammerBroker
import KlammerProtocol
import Synchronization

/// The live sessions of one broker: wakes push subscriptions when messages arrive, cuts the connections of a
/// participant the registry suspended, revoked, removed or took a certificate from (within the observer call, so
/// well under a second), and sends GOAWAY to everyone on graceful shutdown.
public final class SessionHub: Sendable {
    /// Callbacks of one session; each hops to the session's event loop itself.
    struct Entry: Sendable {
        var participant: String?
        /// Hex SHA-256 of the connection's client certificate (set once TLS authorized the peer).
        var fingerprint: String?
        var wake: @Sendable () -> Void
        var shutdown: @Sendable () -> Void
        var participantChanged: @Sendable (Participant?) -> Void
        var certificateRevoked: @Sendable () -> Void
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var next: UInt64 = 0
        var shuttingDown = false
        var refusalSink: (@Sendable (RefusalEvent) -> Void)?
    }

    /// The mutex lives in its own object so the registry observer can hold it without holding the hub.
    private final class Box: Sendable { let state = Mutex(State()) }
    private let box = Box()
    private let registry: ParticipantRegistry
    private let observer: UInt64
    /// Unfinished uploads of closed connections, for resumption.
    public let parking: UploadParking
    /// Open uploads per participant and broker-wide (SPEC.md §9.4).
    public let uploadQuota: UploadQuota
    /// Requests per second per participant (SPEC.md §9.3).
    public let requestRate: RequestRateLimiter

    /// Creates a hub observing `registry`.
    public init(
        registry: ParticipantRegistry, parking: UploadParking = UploadParking(), uploadQuota: UploadQuota = UploadQuota(),
        requestRate: RequestRateLimiter = RequestRateLimiter()
    ) {
        self.registry = registry
        self.parking = parking
        self.uploadQuota = uploadQuota
        self.requestRate = requestRate
        let box = self.box
        self.observer = registry.addObserver { change in
            let (id, after): (String, Participant?)
            switch change {
            case .added: return
            case .updated(_, let p): (id, after) = (p.id, p)
            case .removed(let p): (id, after) = (p.id, nil)
            }
            let affected = box.state.withLock { s in s.entries.values.filter { $0.participant == id } }
            for entry in affected { entry.participantChanged(after) }
        }
    }

    deinit { registry.removeObserver(observer) }

    /// Sets where refusals go (klammerd: the audit log). The sink is called on event loops and in request tasks, so
    /// it must return at once (queue the write); nil stops reporting.
    public func onRefusal(_ sink: (@Sendable (RefusalEvent) -> Void)?) {
        box.state.withLock { $0.refusalSink = sink }
    }

    /// Hands a refusal to the sink, if one is set.
    func report(_ refusal: RefusalEvent) {
        let sink = box.state.withLock { $0.refusalSink }
        sink?(refusal)
    }

    /// Number of open sessions.
    public var count: Int { box.state.withLock { $0.entries.count } }

    /// Open sessions per participant (sessions that said HELLO), for `klammerctl status`.
    public var sessionsByParticipant: [String: Int] {
        box.state.withLock { s in
            var result: [String: Int] = [:]
            for entry in s.entries.values { if let id = entry.participant { result[id, default: 0] += 1 } }
            return result
        }
    }

    func register(_ entry: Entry) -> UInt64 {
        let (token, shuttingDown) = box.state.withLock { s in
            let token = s.next
            s.next += 1
            s.entries[token] = entry
            return (token, s.shuttingDown)
        }
        if shuttingDown { entry.shutdown() }
        return token
    }

    func bind(_ token: UInt64, participant: String) {
        box.state.withLock { s in s.entries[token]?.participant = participant }
    }

    /// Records the connection's client certificate as soon as TLS authorized it (before HELLO), so a reloaded CRL
    /// also reaches connections that have not said HELLO yet.
    func bind(_ token: UInt64, certificateFingerprint: String) {
        box.state.withLock { s in s.entries[token]?.fingerprint = certificateFingerprint }
    }

    /// Sessions whose client certificate is known (TLS authorized them).
    var certificateBoundCount: Int { box.state.withLock { s in s.entries.values.filter { $0.fingerprint != nil }.count } }

    /// Closes every session whose client certificate is one of `fingerprints` (hex SHA-256), e.g. after a reload
    /// brought CRLs that revoke them, the same way a registry change cuts them. Returns how many were closed.
    @discardableResult
    public func closeConnections(usingCertificates fingerprints: Set<String>) -> Int {
        guard !fingerprints.isEmpty else { return 0 }
        let affected = box.state.withLock { s in
            s.entries.values.filter { entry in entry.fingerprint.map(fingerprints.contains) ?? false }
        }
        for entry in affected { entry.certificateRevoked() }
        return affected.count
    }

    func unregister(_ token: UInt64) {
        _ = box.state.withLock { s in s.entries.removeValue(forKey: token) }
    }

    /// Wakes the push subscriptions of `participants` (a message for them was accepted or returned).
    public func wake(_ participants: [String]) {
        let set = Set(participants)
        let entries = box.state.withLock { s in s.entries.values.filter { $0.participant.map(set.contains) ?? false } }
        for entry in entries { entry.wake() }
    }

    /// Sends GOAWAY on every session (and to sessions that register later).
    public func shutdownAll() {
        let entries = box.state.withLock { s in
            s.shuttingDown = true
            return Array(s.entries.values)
        }
        for entry in entries { entry.shutdown() }
    }

    /// Waits (bounded polling) until every session closed or `timeout` passed; returns whether all closed.
    /// Returns at once when the task is cancelled (a cancelled sleep would otherwise spin).
    public func waitUntilEmpty(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if count == 0 { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return count == 0
    }
}
