/// A token bucket: `rate` tokens a second, holding at most `burst`. A value type; its
/// owner keeps it under a lock and passes the time in, so it is tested without a clock.
public struct TokenBucket: Sendable, Equatable {
    /// Tokens added per second.
    public let rate: Double
    /// The most tokens held.
    public let burst: Double
    /// The tokens held at `updated`.
    private(set) var tokens: Double
    /// When `tokens` was last brought up to date, in seconds on the owner's clock.
    private(set) var updated: Double

    /// A full bucket at `now`.
    public init(rate: Double, burst: Double, now: Double) {
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
    }

    /// What taking tokens came to.
    public enum Decision: Sendable, Equatable {
        /// Taken.
        case allowed
        /// Not enough tokens: enough will be there after this many seconds.
        case refused(retryAfter: Double)
    }

    /// Takes `cost` tokens (at most `burst`) at `now`, or says when they will be there.
    public mutating func take(_ cost: Double, now: Double) -> Decision {
        let cost = min(cost, self.burst)
        self.tokens = min(self.burst, self.tokens + max(0, now - self.updated) * self.rate)
        self.updated = max(self.updated, now)
        guard self.tokens >= cost else { return .refused(retryAfter: (cost - self.tokens) / self.rate) }
        self.tokens -= cost
        return .allowed
    }

    /// Whether the bucket is full at `now` (it can be forgotten: a new one is the same).
    public func isFull(now: Double) -> Bool {
        self.tokens + max(0, now - self.updated) * self.rate >= self.burst
    }
}
