import FerryPolicy

// Nanoseconds per decision of the governance policies (scripts/bench-policy builds this in
// release mode and runs it). Each benchmark runs one decision `iterations` times against a fake
// clock that moves forward by a fixed step, so the limiters see a steady mix of admissions and
// refusals; the cost includes building the `Duration` passed as `now`, as a caller would. Every
// result feeds a checksum that is printed, so the optimizer cannot drop the loops.
//
//   ferry-policy-bench [iterations]      (default 10,000,000)

let iterations = CommandLine.arguments.dropFirst().first.flatMap { Int($0) } ?? 10_000_000
var checksum: UInt64 = 0

/// Runs `body(iterations)` once and prints `name ns/decision`.
@MainActor
func measure(_ name: String, _ body: (Int) -> UInt64) {
    let clock = ContinuousClock()
    let start = clock.now
    let sum = body(iterations)
    let elapsed = clock.now - start
    checksum &+= sum
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    let perDecision = (nanoseconds / Double(iterations) * 10).rounded() / 10
    print("\(name) \(perDecision)")
}

/// Folds a decision into a checksum.
@inline(__always)
func fold(_ d: RateLimitDecision) -> UInt64 {
    UInt64(truncatingIfNeeded: d.remaining) &+ (d.isAllowed ? 1 : 0)
}

/// One decision per `step` nanoseconds of fake time through `decide`.
func limiterLoop<L: RateLimiter>(_ limiter: L, step: Int64, _ n: Int) -> UInt64 {
    var limiter = limiter, t: Int64 = 1_000_000_000, sum: UInt64 = 0
    for _ in 0..<n {
        t &+= step
        sum &+= fold(limiter.decide(now: .nanoseconds(t)))
    }
    return sum
}

let start: Duration = .seconds(1)
// Requests every microsecond against limits of about half that rate.
measure("TokenBucket.continuous") { n in
    limiterLoop(TokenBucket(configuration: .init(maxTokens: 1000, tokensPerFill: 500, fillInterval: .milliseconds(1)),
                            now: start), step: 1000, n)
}
measure("TokenBucket.discrete") { n in
    limiterLoop(TokenBucket(configuration: .init(maxTokens: 1000, tokensPerFill: 500, fillInterval: .milliseconds(1),
                                                 fill: .discrete), now: start), step: 1000, n)
}
measure("FixedWindowLimiter") { n in
    limiterLoop(FixedWindowLimiter(configuration: .init(limit: 500, window: .milliseconds(1)), now: start),
                step: 1000, n)
}
measure("SlidingWindowLimiter(10 buckets)") { n in
    limiterLoop(SlidingWindowLimiter(configuration: .init(limit: 500, window: .milliseconds(1),
                                                          granularity: .microseconds(100)), now: start), step: 1000, n)
}
measure("LeakyBucket") { n in
    limiterLoop(LeakyBucket(configuration: .init(emissionInterval: .microseconds(2), burst: 100), now: start),
                step: 1000, n)
}
measure("ConcurrencyLimiter(acquire+release)") { n in
    var limiter = ConcurrencyLimiter(limit: 64), sum: UInt64 = 0
    for i in 0..<n {
        if limiter.tryAcquire() { sum &+= 1 }
        if i & 1 == 1 { limiter.release(permits: 2) }
    }
    return sum &+ UInt64(limiter.inFlight)
}

/// Decisions for keys drawn at random from `keys`, in a table of `maxKeys`.
func keyedLoop(keys: Int, maxKeys: Int, _ n: Int) -> UInt64 {
    let names = (0..<keys).map { "client-\($0)" }
    var limiters = KeyedLimiters<TokenBucket>(
        configuration: .init(maxTokens: 10, tokensPerFill: 1, fillInterval: .milliseconds(1)),
        maxKeys: maxKeys, idleTimeout: .seconds(60))
    var random = FastRandom(seed: 1)
    var t: Int64 = 1_000_000_000, sum: UInt64 = 0
    for _ in 0..<n {
        t &+= 1000
        let key = names[Int(random.next(below: UInt64(keys)))]
        sum &+= fold(limiters.decide(key: key, now: .nanoseconds(t)))
    }
    return sum &+ UInt64(limiters.evictions)
}

measure("KeyedLimiters<TokenBucket>(1000 keys, all tracked)") { keyedLoop(keys: 1000, maxKeys: 2000, $0) }
measure("KeyedLimiters<TokenBucket>(1000 keys, 500 tracked: LRU churn)") { keyedLoop(keys: 1000, maxKeys: 500, $0) }

/// tryAcquire + record per call: one failure in 50, a slow call in 100 (the breaker stays closed).
func breakerLoop(_ window: CircuitBreakerStateMachine.SlidingWindow, _ n: Int) -> UInt64 {
    var config = CircuitBreakerStateMachine.Configuration()
    config.slidingWindow = window
    config.slowCallDurationThreshold = .milliseconds(100)
    var breaker = CircuitBreakerStateMachine(configuration: config, now: start)
    var t: Int64 = 1_000_000_000, sum: UInt64 = 0
    for i in 0..<n {
        t &+= 1000
        let now = Duration.nanoseconds(t)
        guard let permission = breaker.tryAcquire(now: now) else { continue }
        let duration: Duration = i % 100 == 0 ? .milliseconds(200) : .milliseconds(1)
        breaker.record(i % 50 == 0 ? .failure : .success, duration: duration, permission: permission, now: now)
        sum &+= 1
    }
    return sum &+ UInt64(breaker.counts(now: .nanoseconds(t)).failures)
}

measure("CircuitBreaker(count window 100, acquire+record)") { breakerLoop(.countBased(calls: 100), $0) }
measure("CircuitBreaker(time window 60 s, acquire+record)") { breakerLoop(.timeBased(seconds: 60), $0) }

measure("Bulkhead(enter+leave)") { n in
    var bulkhead = Bulkhead(configuration: .init(maxConcurrent: 8, maxQueue: 8, maxWait: .milliseconds(10)))
    var t: Int64 = 1_000_000_000, sum: UInt64 = 0
    for _ in 0..<n {
        t &+= 1000
        let now = Duration.nanoseconds(t)
        if bulkhead.tryEnter(now: now) == .admitted { sum &+= 1 }
        if bulkhead.leave(now: now) != nil { sum &+= 2 }
    }
    return sum
}

measure("AdaptiveConcurrency(acquire+record)") { n in
    var c = AdaptiveConcurrencyController.Configuration(concurrencyUpdateInterval: .milliseconds(100))
    c.minRTTRequestCount = 50
    var controller = AdaptiveConcurrencyController(configuration: c, now: start, random: FastRandom(seed: 2))
    var t: Int64 = 1_000_000_000, sum: UInt64 = 0
    for i in 0..<n {
        t &+= 1000
        let now = Duration.nanoseconds(t)
        if controller.tryAcquire(now: now) {
            controller.record(rtt: .microseconds(Int64(500 + i % 100)), now: now)
            sum &+= 1
        }
    }
    return sum &+ UInt64(controller.concurrencyLimit)
}

print("checksum \(checksum)")
