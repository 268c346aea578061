import Foundation
import KlammerBroker
import KlammerProtocol
import Synchronization

/// One unfinished upload, shared between the connection that streams it and ``UploadParking`` (which lets a new
/// connection take it over, SPEC.md §4.8, §9.3). Exactly one owner at a time: a connection's request lane (its
/// owner token) or nobody (parked, token 0). Every use of the submission happens under the slot's lock and only by
/// the current owner, so a takeover waits for an append in progress and the old owner's next CHUNK finds the upload
/// gone.
///
/// `@unchecked Sendable`: `submission` (a non-Sendable `PayloadSubmission`) and the mutable fields are only read or
/// written while `lock` is held (every accessor below takes it), so no two tasks ever touch them concurrently.
final class UploadSlot: @unchecked Sendable {
    struct Key: Hashable { var sender: ParticipantID; var clientMessageID: String }

    let key: Key
    let envelope: Envelope
    let form: SignatureForm
    private let lock = NSLock()
    private var submission: PayloadSubmission?
    private var owner: UInt64
    private var parkedAt: ContinuousClock.Instant?
    /// Tells the owning connection that another one took the upload over (so it forgets the request at once).
    private var onLost: (@Sendable () -> Void)?

    init(_ submission: PayloadSubmission, owner: UInt64, onLost: (@Sendable () -> Void)? = nil) {
        self.onLost = onLost
        self.envelope = submission.envelope
        self.form = submission.signatureForm
        self.key = Key(sender: submission.envelope.sender, clientMessageID: submission.envelope.clientMessageID)
        self.submission = submission
        self.owner = owner
    }

    /// Runs `body` with the submission if `owner` still owns it; nil if it was taken over, finished or discarded.
    @discardableResult
    func use<R>(as owner: UInt64, _ body: (PayloadSubmission) throws -> R) rethrows -> R? {
        lock.lock()
        defer { lock.unlock() }
        guard self.owner == owner, let submission else { return nil }
        return try body(submission)
    }

    /// Hands the submission out for good (SEND_END) if `owner` still owns it.
    func release(as owner: UInt64) -> PayloadSubmission? {
        lock.lock()
        defer { lock.unlock() }
        guard self.owner == owner, let s = submission else { return nil }
        submission = nil
        return s
    }

    /// The owner's connection ended: the slot becomes parked (true), or is discarded when it holds no payload byte
    /// (false). Nothing happens if another connection took it over meanwhile (false).
    func park(as owner: UInt64) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard self.owner == owner, let s = submission else { return false }
        guard s.receivedBytes > 0 else {
            s.abort()
            submission = nil
            return false
        }
        self.owner = 0
        parkedAt = .now
        onLost = nil
        return true
    }

    /// A new connection takes the upload over, from its parked state or from a connection that still holds it (that
    /// one's next frame for it finds it gone). The partial payload is made durable first; returns the byte count to
    /// announce in READY, or nil if the upload is gone (finished, discarded, or the sync failed).
    func takeOver(by newOwner: UInt64, onLost newOnLost: (@Sendable () -> Void)? = nil) -> UInt64? {
        lock.lock()
        guard let s = submission else {
            lock.unlock()
            return nil
        }
        do { try s.makeDurable() } catch {
            submission = nil
            lock.unlock()
            return nil
        }
        let lost = owner != 0 && owner != newOwner ? onLost : nil
        owner = newOwner
        parkedAt = nil
        onLost = newOnLost
        let offset = s.receivedBytes
        lock.unlock()
        lost?()  // outside the lock: it only posts to the old connection's event loop
        return offset
    }

    /// Whether the slot is parked since before `cutoff` (or holds nothing any more).
    func isExpired(before cutoff: ContinuousClock.Instant) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if submission == nil { return true }
        if let parkedAt { return parkedAt < cutoff }
        return false
    }

    /// When the slot was parked (nil while a connection owns it).
    var parkedSince: ContinuousClock.Instant? {
        lock.lock()
        defer { lock.unlock() }
        return parkedAt
    }

    /// Discards the upload (part file deleted) whoever owns it.
    func discard() {
        lock.lock()
        defer { lock.unlock() }
        submission?.abort()
        submission = nil
    }
}
