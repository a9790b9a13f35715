/// A leaky bucket as a queue: requests leave it one per `emissionInterval` (1 / rate), and up to
/// `burst` may wait in it. A request is either admitted now, admitted after a delay (it waits,
/// then proceeds, so the output keeps to the rate), or refused because the queue is full. This is
/// nginx's `limit_req` with `burst` and without `nodelay`; with `burst: 0` it only polices.
///
/// Kept as one number, the time the next request may leave (`nextDeparture`), as in GCRA: a
/// request arriving at `t` leaves at `d = max(t, nextDeparture)`; it is admitted when its wait
/// `d − t` is at most `burst × emissionInterval` (the requests then queued, itself included, are
/// `⌈wait / emissionInterval⌉ ≤ burst`), and `nextDeparture` becomes `d + emissionInterval`.
/// Departures of admitted requests are therefore at least `emissionInterval` apart.
///
/// Budget (`limit`): `burst + 1` requests, the one that may leave now and the `burst` that may wait;
/// `remaining` is how many more would be admitted if they all arrived now.
public struct LeakyBucket: RateLimiter, Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Time between two departures.
        public var emissionInterval: Duration
        /// Requests that may wait.
        public var burst: Int

        public init(emissionInterval: Duration, burst: Int) {
            precondition(emissionInterval.wholeNanoseconds > 0, "emissionInterval must be at least 1ns")
            precondition(burst >= 0, "burst must not be negative")
            self.emissionInterval = emissionInterval
            self.burst = burst
        }

        /// `rate` requests per `per`: departures `⌈per / rate⌉` apart (rounded up to the
        /// nanosecond, so the output never exceeds the rate).
        public init(rate: Int, per: Duration = .seconds(1), burst: Int) {
            precondition(rate > 0, "rate must be positive")
            self.init(emissionInterval: .nanoseconds(ceilDivide(per.wholeNanoseconds, Int64(rate))), burst: burst)
        }
    }

    public let configuration: Configuration
    private let interval: Int64
    /// The longest wait a request may be given: `burst × emissionInterval`.
    private let maxDelay: Int64
    private var nextDeparture: Int64

    public init(configuration: Configuration, now: Duration) {
        self.configuration = configuration
        interval = configuration.emissionInterval.wholeNanoseconds
        maxDelay = saturatingMultiply(Int64(configuration.burst), interval)
        nextDeparture = now.wholeNanoseconds
    }

    /// Admits (`delay` is the wait, zero when the request may go at once) or refuses (the queue is
    /// full; `retryAfter` is the wait until a place frees).
    public mutating func decide(now: Duration) -> RateLimitDecision {
        let t = now.wholeNanoseconds
        let wait = max(0, nextDeparture - t)
        guard wait <= maxDelay else {
            return RateLimitDecision(isAllowed: false, limit: configuration.burst + 1, remaining: 0,
                                     retryAfter: wait - maxDelay, resetAfter: wait)
        }
        nextDeparture = t + wait + interval
        let next = wait + interval
        return RateLimitDecision(isAllowed: true, limit: configuration.burst + 1, remaining: remaining(afterWait: next),
                                 delay: wait, resetAfter: next)
    }

    /// Requests waiting at `now` (admitted, departing after `now`). The last one admitted departs
    /// at `nextDeparture − emissionInterval`, those before it one interval apart.
    public func queued(now: Duration) -> Int {
        let wait = nextDeparture - now.wholeNanoseconds
        return wait > 0 ? Int(ceilDivide(wait, interval)) - 1 : 0
    }

    /// How many more requests arriving now would be admitted when the next one would wait `wait`.
    private func remaining(afterWait wait: Int64) -> Int {
        wait <= maxDelay ? Int((maxDelay - wait) / interval) + 1 : 0
    }
}
