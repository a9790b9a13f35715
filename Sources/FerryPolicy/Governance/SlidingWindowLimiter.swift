/// At most `limit` requests in **any** span of length `window` — not only in aligned windows —
/// counted in buckets of `granularity` (time is cut at multiples of `granularity` on the caller's
/// clock; `window` must be a multiple of it, `n = window / granularity`).
///
/// Rule: a request at `t`, in bucket `b = ⌊t / granularity⌋`, is admitted when the `n + 1`
/// buckets `b − n … b` together hold fewer than `limit` (less than `limit − permits + 1`).
///
/// Why no span of length `window` can hold more than `limit` admitted requests: take the last
/// request admitted in the span, at `t`. Every other admitted request of the span came at some
/// `s` with `t − window < s ≤ t`, so in bucket `⌊s / g⌋ ≥ ⌊(t − n·g) / g⌋ = b − n`: all of them
/// were counted when `t` was decided, and that count (plus `t`'s own) was at most `limit`. This
/// holds for closed spans `[s, s + window]` too, as the proof only uses `s ≥ t − window`, and
/// `⌊(t − window)/g⌋` is exactly `b − n`.
///
/// The price of the guarantee: the oldest bucket is counted whole, so requests are held to
/// `limit` per `window + granularity` in the worst case (a finer granularity costs memory, one
/// `Int` per bucket, and nothing per decision: buckets that fall out are emptied as time moves on).
public struct SlidingWindowLimiter: RateLimiter, Sendable {
    public struct Configuration: Sendable, Equatable {
        public var limit: Int
        public var window: Duration
        public var granularity: Duration

        public init(limit: Int, window: Duration, granularity: Duration) {
            let w = window.wholeNanoseconds, g = granularity.wholeNanoseconds
            precondition(limit >= 0, "limit must not be negative")
            precondition(g > 0 && w >= g && w % g == 0, "window must be a positive multiple of granularity")
            precondition(w / g < 1 << 20, "window / granularity must stay below 2^20 buckets")
            self.limit = limit
            self.window = window
            self.granularity = granularity
        }
    }

    public let configuration: Configuration
    private let granularity: Int64
    /// Buckets per window (`n`).
    private let span: Int64
    /// Buckets `b − n … b`.
    private var ring: BucketRing<Int>

    public init(configuration: Configuration, now: Duration) {
        self.configuration = configuration
        granularity = configuration.granularity.wholeNanoseconds
        span = configuration.window.wholeNanoseconds / granularity
        ring = BucketRing(count: Int(span) + 1, newest: floorDivide(now.wholeNanoseconds, granularity))
    }

    public mutating func decide(now: Duration) -> RateLimitDecision {
        acquire(permits: 1, now: now)
    }

    /// Counts `permits` requests if they fit, else counts nothing.
    public mutating func acquire(permits: Int, now: Duration) -> RateLimitDecision {
        precondition(permits >= 0, "permits must not be negative")
        let t = now.wholeNanoseconds
        ring.advance(to: floorDivide(t, granularity))
        let limit = configuration.limit
        if permits <= limit - ring.total {
            ring.addToNewest(permits)
            return RateLimitDecision(isAllowed: true, limit: limit, remaining: limit - ring.total,
                                     resetAfter: resetAfter(t))
        }
        let retry = permits > limit ? RateLimitDecision.neverNanoseconds : retryAfter(permits: permits, t)
        return RateLimitDecision(isAllowed: false, limit: limit, remaining: limit - ring.total, retryAfter: retry,
                                 resetAfter: resetAfter(t))
    }

    /// Requests the limiter counts against a request at `now`.
    public func used(now: Duration) -> Int {
        var copy = ring
        copy.advance(to: floorDivide(now.wholeNanoseconds, granularity))
        return copy.total
    }

    /// Bucket `i` stops counting once `i + n + 1` is the newest, at `(i + n + 1) · granularity`.
    private func leaves(_ bucket: Int64) -> Int64 {
        saturatingMultiply(bucket + span + 1, granularity)
    }

    /// The wait until enough old buckets have left for `permits` more (walked only on refusal).
    private func retryAfter(permits: Int, _ t: Int64) -> Int64 {
        var counted = ring.total
        var i = ring.oldest
        while i <= ring.newest {
            counted -= ring[i]
            if permits <= configuration.limit - counted { return leaves(i) - t }
            i += 1
        }
        return leaves(ring.newest) - t
    }

    /// The wait until nothing is counted any more: the newest non-empty bucket leaves.
    private func resetAfter(_ t: Int64) -> Int64 {
        guard ring.total > 0 else { return 0 }
        var i = ring.newest
        while ring[i] == 0 { i -= 1 }
        return leaves(i) - t
    }
}
