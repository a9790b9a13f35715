/// A token bucket with Envoy's `local_ratelimit` parameters (`envoy.type.v3.TokenBucket`): the
/// bucket starts full with `maxTokens`; `tokensPerFill` tokens come back every `fillInterval`;
/// it never holds more than `maxTokens`. A request takes one token (or `permits`) or is refused.
/// So a quiet client may send `maxTokens` at once (the burst), then `tokensPerFill` per
/// `fillInterval` (the rate).
///
/// Two ways for tokens to come back (`Fill`):
/// - `continuous` (the default) is what Envoy 1.40 does: its local rate limit uses the
///   `AtomicTokenBucket`, refilled lazily when read, at `tokensPerFill / fillInterval` tokens per
///   second, fractions included (the default since mid-2024; the timer-based bucket and its
///   runtime guard `no_timer_based_rate_limit_token_bucket` were removed in 1.34).
/// - `discrete` is Envoy's older timer bucket: all `tokensPerFill` at once at each multiple of
///   `fillInterval` after the bucket was made (and nothing in between). It admits the same
///   long-run rate, in steps; `resetAfter` is then the time to the next fill, the meaning of
///   Envoy's former `x-ratelimit-reset`.
///
/// Exact integer arithmetic: the bucket holds whole tokens plus a fraction of one, in units of
/// 1/`fillInterval`-nanoseconds of a token (every nanosecond adds `tokensPerFill` of them), so no
/// rounding lets a token through early or holds one back, and no budget is too large for it.
public struct TokenBucket: RateLimiter, Sendable {
    public enum Fill: Sendable, Equatable {
        /// Tokens accrue continuously (Envoy 1.40).
        case continuous
        /// `tokensPerFill` at once every `fillInterval` from the bucket's creation (Envoy < 1.34).
        case discrete
    }

    public struct Configuration: Sendable, Equatable {
        /// Capacity and initial content (`max_tokens`). Zero refuses every request, as in Envoy.
        public var maxTokens: Int
        /// Tokens added per `fillInterval` (`tokens_per_fill`, default 1).
        public var tokensPerFill: Int
        /// `fill_interval`.
        public var fillInterval: Duration
        public var fill: Fill

        public init(maxTokens: Int, tokensPerFill: Int = 1, fillInterval: Duration, fill: Fill = .continuous) {
            precondition(maxTokens >= 0, "maxTokens must not be negative")
            precondition(tokensPerFill > 0, "tokensPerFill must be positive")
            precondition(fillInterval.wholeNanoseconds > 0, "fillInterval must be at least 1ns")
            self.maxTokens = maxTokens
            self.tokensPerFill = tokensPerFill
            self.fillInterval = fillInterval
            self.fill = fill
        }
    }

    public let configuration: Configuration
    private let interval: Int64
    private let perFill: Int64
    private let maxTokens: Int64
    private var tokens: Int64
    /// The fraction of the next token, `0..<interval` (always 0 with the discrete fill).
    private var partial: Int64 = 0
    /// Continuous: when `tokens` was brought up to date. Discrete: the time of the next fill.
    private var mark: Int64

    public init(configuration: Configuration, now: Duration) {
        self.configuration = configuration
        interval = configuration.fillInterval.wholeNanoseconds
        perFill = Int64(configuration.tokensPerFill)
        maxTokens = Int64(configuration.maxTokens)
        tokens = maxTokens
        let t = now.wholeNanoseconds
        mark = configuration.fill == .continuous ? t : t + interval
    }

    /// One token.
    public mutating func decide(now: Duration) -> RateLimitDecision {
        acquire(permits: 1, now: now)
    }

    /// Takes `permits` tokens if the bucket holds them, else takes nothing. A request for more than
    /// `maxTokens` is never admitted (`isNeverAllowed`).
    public mutating func acquire(permits: Int, now: Duration) -> RateLimitDecision {
        precondition(permits >= 0, "permits must not be negative")
        let t = now.wholeNanoseconds
        refill(t)
        let wanted = Int64(permits)
        if tokens >= wanted {
            tokens -= wanted
            return RateLimitDecision(isAllowed: true, limit: configuration.maxTokens, remaining: Int(tokens),
                                     resetAfter: timeUntil(maxTokens, t))
        }
        let retry = wanted > maxTokens ? RateLimitDecision.neverNanoseconds : timeUntil(wanted, t)
        return RateLimitDecision(isAllowed: false, limit: configuration.maxTokens, remaining: Int(tokens),
                                 retryAfter: retry, resetAfter: timeUntil(maxTokens, t))
    }

    /// Whole tokens in the bucket at `now`, without taking any.
    public func tokens(now: Duration) -> Int {
        var copy = self
        copy.refill(now.wholeNanoseconds)
        return Int(copy.tokens)
    }

    private mutating func refill(_ t: Int64) {
        switch configuration.fill {
        case .continuous:
            guard t > mark else { return }
            defer { mark = t }
            guard tokens < maxTokens else { return }
            // (t − mark) × perFill, in 128 bits, split into whole tokens and the new fraction.
            let product = UInt64(t - mark).multipliedFullWidth(by: UInt64(perFill))
            let divisor = UInt64(interval)
            guard product.high < divisor else { return fill() }
            let (whole, fraction) = divisor.dividingFullWidth(product)
            let sum = UInt64(partial) + fraction
            let gained = whole + (sum >= divisor ? 1 : 0)
            guard gained < UInt64(maxTokens - tokens) else { return fill() }
            tokens += Int64(gained)
            partial = Int64(sum >= divisor ? sum - divisor : sum)
        case .discrete:
            guard t >= mark else { return }
            let fills = (t - mark) / interval + 1
            tokens = min(maxTokens, saturatingAdd(tokens, saturatingMultiply(fills, perFill)))
            mark = saturatingAdd(mark, saturatingMultiply(fills, interval))
        }
    }

    private mutating func fill() {
        tokens = maxTokens
        partial = 0
    }

    /// Nanoseconds from `t` until the bucket holds `target` tokens, with nothing taken meanwhile.
    private func timeUntil(_ target: Int64, _ t: Int64) -> Int64 {
        guard tokens < target else { return 0 }
        switch configuration.fill {
        case .continuous:
            let missing = saturatingMultiply(target - tokens, interval) - partial
            return ceilDivide(missing, perFill)
        case .discrete:
            let fills = ceilDivide(target - tokens, perFill)
            return saturatingAdd(mark, saturatingMultiply(fills - 1, interval)) - t
        }
    }
}
