/// At most `limit` requests in flight: a counter that `tryAcquire` raises and `release` lowers.
/// No time is involved. `limit` may change at any moment (an adaptive controller sets it); lowering
/// it below `inFlight` sends nobody away, it only refuses newcomers until enough have left.
///
/// Every successful `tryAcquire` must be matched by exactly one `release`; a `release` without one
/// is ignored (returns false) rather than letting the count go negative and the limit drift up.
public struct ConcurrencyLimiter: Sendable, Equatable {
    public var limit: Int
    public private(set) var inFlight = 0
    /// Requests refused so far (a counter for stats).
    public private(set) var rejected = 0

    public init(limit: Int) {
        precondition(limit >= 0, "limit must not be negative")
        self.limit = limit
    }

    /// Places left before the limit.
    public var available: Int { max(0, limit - inFlight) }

    /// Takes `permits` places if they are all free, else takes none.
    public mutating func tryAcquire(permits: Int = 1) -> Bool {
        precondition(permits >= 0, "permits must not be negative")
        guard permits <= limit - inFlight else {
            rejected += 1
            return false
        }
        inFlight += permits
        return true
    }

    /// Gives back `permits` places; false (and nothing changes) if fewer are held.
    @discardableResult
    public mutating func release(permits: Int = 1) -> Bool {
        guard permits >= 0, permits <= inFlight else { return false }
        inFlight -= permits
        return true
    }
}
