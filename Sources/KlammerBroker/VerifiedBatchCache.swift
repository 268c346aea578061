import KlammerCrypto

/// Batch signatures the broker has already verified (SPEC.md §5.5 form 2), so a batch of n messages costs one CMS
/// verification instead of n: later members only have their Merkle proof recomputed, and the recomputed root
/// statement must match a cached entry byte for byte.
///
/// The key binds everything the CMS verification depended on — the digest of the root statement recomputed from
/// *this* envelope and proof, the digest of the CMS bytes, and the sender — so a forged proof (a different root) or a
/// different CMS misses the cache and goes through full verification. Bounded LRU: `capacity` entries; when full, the
/// least recently used half is evicted at once (amortised O(log n) per insert, no per-hit list maintenance).
struct VerifiedBatchCache {
    struct Key: Hashable {
        var statementDigest: [UInt8]
        var signatureDigest: [UInt8]
        var sender: String
    }
    struct Entry {
        var certificate: Certificate
        var fingerprint: String
        var lastUse: UInt64
    }

    let capacity: Int
    private(set) var entries: [Key: Entry] = [:]
    private var clock: UInt64 = 0

    init(capacity: Int) { self.capacity = max(2, capacity) }

    var count: Int { entries.count }

    /// The certificate a cached verification used, refreshing its recency.
    mutating func lookup(_ key: Key) -> (certificate: Certificate, fingerprint: String)? {
        guard var entry = entries[key] else { return nil }
        clock &+= 1
        entry.lastUse = clock
        entries[key] = entry
        return (entry.certificate, entry.fingerprint)
    }

    /// Records a successful verification.
    mutating func insert(_ key: Key, certificate: Certificate, fingerprint: String) {
        if entries[key] == nil, entries.count >= capacity {
            let keep = capacity / 2
            let survivors = entries.sorted { $0.value.lastUse > $1.value.lastUse }.prefix(keep)
            entries = Dictionary(uniqueKeysWithValues: survivors.map { ($0.key, $0.value) })
        }
        clock &+= 1
        entries[key] = Entry(certificate: certificate, fingerprint: fingerprint, lastUse: clock)
    }

    /// Forgets everything (e.g. after a registry change would make cached decisions stale).
    mutating func removeAll() { entries.removeAll(keepingCapacity: true) }
}
