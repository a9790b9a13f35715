import FerryPolicy
import Testing

/// The largest number of `times` (sorted) inside any closed span `[s, s + length]`.
func busiestSpan(_ times: [Int64], length: Int64) -> Int {
    var most = 0, j = 0
    for i in times.indices {
        while j < times.count && times[j] - times[i] <= length { j += 1 }
        most = max(most, j - i)
    }
    return most
}

@Suite("Fixed window limiter")
struct GovernanceFixedWindowTests {
    @Test("the count starts again at multiples of the window, aligned to the clock's zero")
    func alignedWindows() {
        var limiter = FixedWindowLimiter(configuration: .init(limit: 3, window: .seconds(1)), now: .milliseconds(200))
        #expect((0..<3).allSatisfy { _ in limiter.decide(now: .milliseconds(500)).isAllowed })
        let refused = limiter.decide(now: .milliseconds(500))
        #expect(!refused.isAllowed && refused.remaining == 0)
        #expect(refused.retryAfter == .milliseconds(500) && refused.resetAfter == .milliseconds(500))
        #expect(limiter.used(now: .milliseconds(999)) == 3 && limiter.used(now: .seconds(1)) == 0)
        let next = limiter.decide(now: .seconds(1))
        #expect(next.isAllowed && next.remaining == 2 && next.resetAfter == .seconds(1))
        #expect(limiter.acquire(permits: 4, now: .seconds(1)).isNeverAllowed)
    }

    @Test("callers whose clocks lag a little (two event loops) never reopen an old window: at most the limit per window")
    func laggingClocks() {
        var limiter = FixedWindowLimiter(configuration: .init(limit: 5, window: .milliseconds(50)), now: .zero)
        var admitted = 0
        // Loop A is at 50 ms (window 1), loop B's cached clock still says 49 ms (window 0).
        for i in 0..<20 {
            let now: Duration = i.isMultiple(of: 2) ? .milliseconds(50) : .milliseconds(49)
            if limiter.decide(now: now).isAllowed { admitted += 1 }
        }
        #expect(admitted == 5)
        #expect(limiter.used(now: .milliseconds(50)) == 5)
    }

    @Test("property: across a boundary it admits 2 × limit within one window length, never more",
          arguments: [5, 6] as [UInt64])
    func twiceTheLimitAtBoundaries(seed: UInt64) {
        let limit = 10, window: Int64 = 1_000_000_000
        var limiter = FixedWindowLimiter(configuration: .init(limit: limit, window: .nanoseconds(window)), now: .zero)
        // Spend the budget at the end of one window and again at the start of the next.
        let edge = [Int64](repeating: 1_950_000_000, count: limit) + [Int64](repeating: 2_050_000_000, count: limit)
        let arrivals = edge + Arrivals.random(count: 20_000, maxGap: 2_000_000, start: 3 * window, seed: seed)
        let admitted = arrivals.filter { limiter.decide(now: .nanoseconds($0)).isAllowed }
        #expect(admitted.prefix(2 * limit) == edge[...])
        // Half-open spans of one window: [s, s + window − 1 ns].
        #expect(busiestSpan(admitted, length: window - 1) == 2 * limit)
    }
}

@Suite("Sliding window limiter")
struct GovernanceSlidingWindowTests {
    @Test("property: never more than limit admitted in any span of one window",
          arguments: [(1, 100), (2, 10), (3, 1), (4, 1000)] as [(UInt64, Int64)])
    func neverOverLimit(seed: UInt64, buckets: Int64) {
        let limit = 25, window: Int64 = 1_000_000_000
        let config = SlidingWindowLimiter.Configuration(limit: limit, window: .nanoseconds(window),
                                                        granularity: .nanoseconds(window / buckets))
        let arrivals = Arrivals.random(count: 30_000, maxGap: 3_000_000, seed: seed)
        var limiter = SlidingWindowLimiter(configuration: config, now: .nanoseconds(arrivals[0]))
        let admitted = arrivals.filter { limiter.decide(now: .nanoseconds($0)).isAllowed }
        // Closed spans [s, s + window]: stricter than the half-open windows the guarantee is about.
        #expect(busiestSpan(admitted, length: window) <= limit)
        // And it is not just refusing: at least `limit` per window + granularity under this load.
        let span = arrivals.last! - arrivals.first!
        #expect(admitted.count >= limit * Int(span / (window + window / buckets)))
    }

    @Test("a refused request learns when the oldest counted bucket leaves the window")
    func retryAndReset() {
        let config = SlidingWindowLimiter.Configuration(limit: 3, window: .seconds(1), granularity: .milliseconds(100))
        var limiter = SlidingWindowLimiter(configuration: config, now: .zero)
        for ms in [50, 250, 450] { #expect(limiter.decide(now: .milliseconds(ms)).isAllowed) }
        let refused = limiter.decide(now: .milliseconds(500))
        #expect(!refused.isAllowed && refused.remaining == 0)
        // Bucket 0 (0–100 ms) is counted until bucket 11 begins, at 1.1 s; bucket 4 until 1.5 s.
        #expect(refused.retryAfter == .milliseconds(600) && refused.resetAfter == .seconds(1))
        #expect(!limiter.decide(now: .milliseconds(1_099)).isAllowed)
        #expect(limiter.used(now: .milliseconds(1_099)) == 3 && limiter.used(now: .milliseconds(1_100)) == 2)
        let admitted = limiter.decide(now: .milliseconds(1_100))
        #expect(admitted.isAllowed && admitted.remaining == 0)
        // Two permits wait for the buckets of 250 ms and 450 ms to leave: 1.3 s and 1.5 s.
        #expect(limiter.acquire(permits: 2, now: .milliseconds(1_100)).retryAfter == .milliseconds(400))
        #expect(limiter.acquire(permits: 4, now: .milliseconds(1_100)).isNeverAllowed)
        #expect(limiter.used(now: .seconds(10)) == 0)
    }
}
