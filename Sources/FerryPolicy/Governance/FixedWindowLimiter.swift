/// At most `limit` requests per window, with windows aligned to multiples of `window` on the
/// caller's clock (`[k·window, (k+1)·window)`, from its time 0): the counter starts again at each
/// boundary.
///
/// The cheapest limiter (one division, one compare), with the well-known weakness of fixed
/// windows: a client that spends its budget at the end of one window and again at the start of
/// the next gets up to 2 × `limit` through within one window length (never more: any span of one
/// window length overlaps at most two windows). Use `SlidingWindowLimiter` where that matters.
public struct FixedWindowLimiter: RateLimiter, Sendable {
    public struct Configuration: Sendable, Equatable {
        public var limit: Int
        public var window: Duration

        public init(limit: Int, window: Duration) {
            precondition(limit >= 0, "limit must not be negative")
            precondition(window.wholeNanoseconds > 0, "window must be at least 1ns")
            self.limit = limit
            self.window = window
        }
    }

    public let configuration: Configuration
    private let window: Int64
    /// The index of the window `count` belongs to.
    private var current: Int64
    private var count = 0

    public init(configuration: Configuration, now: Duration) {
        self.configuration = configuration
        window = configuration.window.wholeNanoseconds
        current = floorDivide(now.wholeNanoseconds, window)
    }

    public mutating func decide(now: Duration) -> RateLimitDecision {
        acquire(permits: 1, now: now)
    }

    /// Counts `permits` requests if they fit in this window's budget, else counts nothing.
    public mutating func acquire(permits: Int, now: Duration) -> RateLimitDecision {
        precondition(permits >= 0, "permits must not be negative")
        let t = now.wholeNanoseconds
        var index = floorDivide(t, window)
        if index > current {
            current = index
            count = 0
        } else if index < current {
            // A caller whose clock lags (another event loop's cached time) counts in the newest
            // window seen: going back would start an old window afresh and over-admit.
            index = current
        }
        let limit = configuration.limit
        let untilBoundary = saturatingMultiply(index + 1, window) - t
        if permits <= limit - count {
            count += permits
            return RateLimitDecision(isAllowed: true, limit: limit, remaining: limit - count,
                                     resetAfter: count == 0 ? 0 : untilBoundary)
        }
        let retry = permits > limit ? RateLimitDecision.neverNanoseconds : untilBoundary
        return RateLimitDecision(isAllowed: false, limit: limit, remaining: limit - count, retryAfter: retry,
                                 resetAfter: untilBoundary)
    }

    /// Requests counted in the window containing `now`.
    public func used(now: Duration) -> Int {
        floorDivide(now.wholeNanoseconds, window) == current ? count : 0
    }
}
