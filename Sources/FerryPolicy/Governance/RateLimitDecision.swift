/// A rate limiter's answer for one request, with what the proxy needs for `Retry-After` and the
/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers.
///
/// Times are kept as whole nanoseconds (cheap to build on every decision) and read as `Duration`
/// or as whole seconds rounded up, the unit of the headers.
public struct RateLimitDecision: Sendable, Equatable {
    /// Nanoseconds standing for "no wait will do": a request for more than the limit ever allows.
    public static let neverNanoseconds = Int64.max

    /// The request may proceed (after `delay`, when the limiter shapes rather than drops).
    public var isAllowed: Bool
    /// The budget the limiter grants (`RateLimit-Limit`): tokens, requests per window, queue slots.
    public var limit: Int
    /// What is left of the budget after this decision (`RateLimit-Remaining`).
    public var remaining: Int
    /// `delay` in nanoseconds (no 128-bit arithmetic to read it).
    public internal(set) var delayNanoseconds: Int64
    var retryAfterNanoseconds: Int64
    var resetAfterNanoseconds: Int64

    init(isAllowed: Bool, limit: Int, remaining: Int, delay: Int64 = 0, retryAfter: Int64 = 0, resetAfter: Int64) {
        self.isAllowed = isAllowed
        self.limit = limit
        self.remaining = remaining
        delayNanoseconds = delay
        retryAfterNanoseconds = retryAfter
        resetAfterNanoseconds = resetAfter
    }

    /// How long an admitted request waits before it proceeds; zero except for `LeakyBucket`.
    public var delay: Duration { .nanoseconds(delayNanoseconds) }
    /// Zero when allowed; otherwise how long until the same request would be admitted, with no
    /// other traffic in between (`Retry-After`). `neverNanoseconds` when it never would.
    public var retryAfter: Duration { .nanoseconds(retryAfterNanoseconds) }
    /// How long until the whole budget is available again (`RateLimit-Reset`); zero when it is.
    public var resetAfter: Duration { .nanoseconds(resetAfterNanoseconds) }
    /// `retryAfter` in whole seconds, rounded up (a `Retry-After` of 0 would invite a retry storm).
    public var retryAfterSeconds: Int64 { Self.secondsRoundedUp(retryAfterNanoseconds) }
    /// `resetAfter` in whole seconds, rounded up.
    public var resetAfterSeconds: Int64 { Self.secondsRoundedUp(resetAfterNanoseconds) }
    /// True when no wait will admit the request (it asks for more than the limit).
    public var isNeverAllowed: Bool { retryAfterNanoseconds == Self.neverNanoseconds }

    static func secondsRoundedUp(_ nanoseconds: Int64) -> Int64 {
        nanoseconds / 1_000_000_000 + (nanoseconds % 1_000_000_000 > 0 ? 1 : 0)
    }
}

/// A limiter that decides alone, from its state and the time: the shape `KeyedLimiters` keeps one
/// of per key. A limiter is built from its configuration when its key is first seen.
public protocol RateLimiter {
    associatedtype Configuration
    init(configuration: Configuration, now: Duration)
    /// Decides one request arriving at `now` and, when it is admitted, counts it.
    mutating func decide(now: Duration) -> RateLimitDecision
}

/// `a * b`, or `Int64.max` when that overflows (both non-negative): budgets times long intervals.
func saturatingMultiply(_ a: Int64, _ b: Int64) -> Int64 {
    let (product, overflow) = a.multipliedReportingOverflow(by: b)
    return overflow ? .max : product
}

/// `a + b`, or `Int64.max` when that overflows (both non-negative).
func saturatingAdd(_ a: Int64, _ b: Int64) -> Int64 {
    let (sum, overflow) = a.addingReportingOverflow(b)
    return overflow ? .max : sum
}

/// `a / b` rounded towards minus infinity (`b` > 0): bucket and window indexes of times before 0.
func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b < 0) ? q - 1 : q
}

/// `a / b` rounded up (`a` ≥ 0, `b` > 0).
func ceilDivide(_ a: Int64, _ b: Int64) -> Int64 {
    a / b + (a % b > 0 ? 1 : 0)
}
