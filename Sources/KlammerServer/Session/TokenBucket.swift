/// A token bucket over monotonic milliseconds passed in (no clock inside, so tests drive it): `ratePerSecond` tokens
/// refill per second up to `burst`; each ``take(now:)`` spends one. A value type: owners keep it under their lock.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens per second (0: unlimited, every take succeeds).
    public let ratePerSecond: Int
    /// Most tokens held (the burst allowed after a quiet period).
    public let burst: Int
    private var tokens: Double
    private var lastMillis: Int64?

    /// A full bucket.
    public init(ratePerSecond: Int, burst: Int) {
        self.ratePerSecond = max(0, ratePerSecond)
        self.burst = max(1, burst)
        self.tokens = Double(max(1, burst))
    }

    /// Spends one token at `now` (ms); false (nothing spent) when the bucket is empty.
    public mutating func take(now: Int64) -> Bool {
        guard ratePerSecond > 0 else { return true }
        refill(now: now)
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// Milliseconds from `now` until the next token (0 if one is there).
    public func millisUntilNext(now: Int64) -> Int64 {
        guard ratePerSecond > 0 else { return 0 }
        var copy = self
        copy.refill(now: now)
        guard copy.tokens < 1 else { return 0 }
        return Int64(((1 - copy.tokens) * 1000 / Double(ratePerSecond)).rounded(.up))
    }

    private mutating func refill(now: Int64) {
        if let last = lastMillis, now > last {
            tokens = min(Double(burst), tokens + Double(now - last) * Double(ratePerSecond) / 1000)
        }
        if lastMillis == nil || now > lastMillis! { lastMillis = now }
    }
}
