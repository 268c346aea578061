public import Foundation
public import KlammerCrypto
public import KlammerProtocol

/// Everything the broker core needs besides the registry and the store: its identity, signing key and limits.
public struct BrokerConfiguration: Sendable {
    /// The broker's participant id, written into every receipt (e.g. `broker:klammer-1`).
    public var brokerID: ParticipantID
    /// The broker certificate receipts are signed with (recipients verify receipts against it).
    public var certificate: Certificate
    /// The private key of `certificate`.
    public var key: PrivateKey
    /// Protocol limits applied to envelopes, signatures and payloads (recipient count, message size, signature size).
    public var limits: ProtocolLimits = .default
    /// Payloads up to this many bytes are kept in memory and stored inline in the log record; larger ones are
    /// streamed to a blob. Must not exceed the store's `maxInlinePayload` (1 MiB by default).
    public var maxInlinePayload: Int = 256 << 10
    /// Directory for the broker's own files (the routing-slip receipt log).
    public var directory: String
    /// Free space (bytes) kept in reserve on the file systems of `directory` and `storeDirectory` (SPEC.md §7.1,
    /// §12 `store.free_space_reserve_bytes`): a submission that would leave less is refused with the retryable
    /// `STORAGE_FULL` before it is stored, so the disk never fills up under the store, receipt log and audit log and
    /// the admin API stays usable; once space is back, submissions are taken again without a restart. 0 = no reserve.
    public var freeSpaceReserveBytes: UInt64 = 64 << 20
    /// The store's directory, also checked for the reserve (nil: only `directory`).
    public var storeDirectory: String? = nil
    /// Most deliveries handed out by one `lease` call.
    public var maxLeaseBatch: Int = 256
    /// Most receipt subscribers per participant (each is one AsyncStream).
    public var maxSubscribersPerParticipant: Int = 16
    /// How long SEND_BEGIN answers a re-used client message id from the routing slip (should equal the store's
    /// `dedupeWindow`; the store's own de-duplication at append remains the final authority).
    public var dedupeWindow: Duration = .seconds(7 * 24 * 3600)
    /// How long the routing slip of a finished message (acknowledged or expired for every recipient) is kept after
    /// its acceptance; older ones are removed when the receipt log is compacted (SPEC.md §7.4). At least
    /// `dedupeWindow` (the slip answers duplicates). Default 90 days.
    public var receiptRetention: Duration = .seconds(90 * 24 * 3600)
    /// How often the daemon compacts the receipt log (it rewrites only when at least a quarter of the file can go).
    public var receiptCompactionInterval: Duration = .seconds(3600)
    /// Signed `rejected` receipts per second, across all connections (burst: twice this); beyond it a refused
    /// submission gets only its ERROR. 0 issues none. Default 32.
    public var rejectedReceiptsPerSecond: Int = 32
    /// Most messages queued for one recipient (in any state, dead-lettered included); a SEND_BEGIN to a recipient at
    /// the limit is refused with QUOTA_EXCEEDED (retryable: it succeeds once the recipient fetched). 0 turns it off.
    /// Default 100,000 (SPEC.md §7.1 check 4).
    public var maxQueuedMessagesPerRecipient: Int = 100_000
    /// How long a directory answer may be cached by clients (its "valid until" = issue time + this; SPEC.md §5.11).
    public var directoryTTL: Duration = .seconds(3600)
    /// How far an envelope's `created at` may lie ahead of the broker clock (sender clock skew; SPEC.md §7.1 check 5a).
    /// Default 5 minutes.
    public var maxClockSkew: Duration = .seconds(300)
    /// How far an envelope's `created at` may lie behind the broker clock. Default: the dedupe window (7 days), so an
    /// old signed envelope can no longer be replayed as a new message once the dedupe window stopped answering it.
    public var maxEnvelopeAge: Duration = .seconds(7 * 24 * 3600)
    /// Largest time to live an envelope may ask for. Default 90 days (the longest `store.default_ttl_seconds`).
    public var maxTimeToLive: Duration = .seconds(90 * 24 * 3600)
    /// CA bundle and CRLs that registered certificates must still pass whenever they sign (SPEC.md §7.1 check 10a) and
    /// to be listed in directory answers; klammerd passes its TLS trust store and replaces it on reload
    /// (``Broker/updateTrustStore(_:)``). nil: registered certificates are trusted as registered (broker-core tests).
    public var trustStore: TrustStore? = nil
    /// Clock (tests inject a fixed one).
    public var now: @Sendable () -> Date = { Date() }

    /// Creates a configuration. Throws ``KlammerCrypto/CryptoError`` `keyMismatch` if `key` is not `certificate`'s key.
    public init(brokerID: ParticipantID, certificate: Certificate, key: PrivateKey, directory: String) throws {
        guard key.matches(certificate.publicKey) else {
            throw CryptoError(
                .keyMismatch,
                "the broker key does not belong to the broker certificate \(certificate.subject); configure the key issued with that certificate"
            )
        }
        self.brokerID = brokerID
        self.certificate = certificate
        self.key = key
        self.directory = directory
    }

    /// Checks the limits against each other and against the store's defaults (SPEC.md §2.10: inline payload 1 MiB,
    /// 1000 recipients), so a message the broker accepts is never refused by the store afterwards.
    public func validate() throws {
        try limits.validate()
        guard (0...(1 << 20)).contains(maxInlinePayload) else {
            throw BrokerError(
                .limitExceeded,
                "maxInlinePayload \(maxInlinePayload) must be 0…1 MiB (the store's inline limit); larger payloads go to blobs")
        }
        guard limits.maxRecipients <= 1000 else {
            throw BrokerError(
                .limitExceeded, "maxRecipients \(limits.maxRecipients) exceeds the store's 1000 recipients per message; lower it")
        }
        guard receiptRetention >= dedupeWindow else {
            throw BrokerError(
                .limitExceeded,
                "the receipt retention (\(receiptRetention.milliseconds / 1000) s) must be at least the dedupe window (\(dedupeWindow.milliseconds / 1000) s): duplicates are answered from the routing slip"
            )
        }
        guard receiptCompactionInterval >= .seconds(1) else {
            throw BrokerError(.limitExceeded, "the receipt compaction interval must be at least 1 s")
        }
        guard maxClockSkew >= .zero, maxEnvelopeAge >= .seconds(60), maxTimeToLive >= .seconds(1),
            maxTimeToLive.milliseconds / 1000 <= UInt64(UInt32.max)
        else {
            throw BrokerError(
                .limitExceeded, "max clock skew must be ≥ 0 s, max envelope age ≥ 60 s and max time to live 1 … \(UInt32.max) s")
        }
        guard (1...10_000).contains(maxLeaseBatch), (1...1024).contains(maxSubscribersPerParticipant) else {
            throw BrokerError(.limitExceeded, "maxLeaseBatch must be 1…10000 and maxSubscribersPerParticipant 1…1024")
        }
    }

    var nowMillis: UInt64 {
        let t = now().timeIntervalSince1970
        return t <= 0 ? 0 : UInt64((t * 1000).rounded(.down))
    }

    /// The broker clock `duration` ago, in ms since 1970 (0 if that is before 1970).
    func millis(ago duration: Duration) -> UInt64 {
        let now = nowMillis, span = duration.milliseconds
        return now > span ? now - span : 0
    }
}

extension Duration {
    /// Whole milliseconds (negative durations count as 0).
    var milliseconds: UInt64 {
        let c = components
        return UInt64(max(0, c.seconds)) * 1000 + UInt64(max(0, c.attoseconds) / 1_000_000_000_000_000)
    }
}
