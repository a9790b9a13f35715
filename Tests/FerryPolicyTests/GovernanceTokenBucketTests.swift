import FerryPolicy
import Testing

/// Arrival times for property tests: `count` requests with gaps drawn uniformly from
/// `0...maxGap` (nanoseconds), starting at `start`.
enum Arrivals {
    static func random(count: Int, maxGap: Int64, start: Int64 = 1_000_000_000, seed: UInt64) -> [Int64] {
        var random = FastRandom(seed: seed)
        var t = start
        return (0..<count).map { _ in
            t += Int64(random.next(below: UInt64(maxGap) + 1))
            return t
        }
    }
}

@Suite("Token bucket")
struct GovernanceTokenBucketTests {
    static let t0: Duration = .seconds(100)

    @Test("a full bucket admits max_tokens at once, then one token per fill interval")
    func burstThenRate() {
        var bucket = TokenBucket(configuration: .init(maxTokens: 10, fillInterval: .milliseconds(100)), now: Self.t0)
        for expected in (0..<10).reversed() {
            let d = bucket.decide(now: Self.t0)
            #expect(d.isAllowed && d.remaining == expected && d.limit == 10)
        }
        let refused = bucket.decide(now: Self.t0)
        #expect(!refused.isAllowed)
        #expect(refused.retryAfter == .milliseconds(100) && refused.resetAfter == .seconds(1))
        #expect(refused.retryAfterSeconds == 1 && refused.resetAfterSeconds == 1)
        let early = bucket.decide(now: Self.t0 + .milliseconds(99))
        #expect(!early.isAllowed && early.retryAfter == .milliseconds(1))
        let onTime = bucket.decide(now: Self.t0 + .milliseconds(100))
        #expect(onTime.isAllowed && onTime.remaining == 0 && onTime.retryAfter == .zero)
        // Fractions accrue: 250 ms later there are 2.5 tokens, so two requests pass and the third
        // waits the missing half token.
        let later = Self.t0 + .milliseconds(350)
        #expect(bucket.tokens(now: later) == 2)
        #expect(bucket.decide(now: later).isAllowed && bucket.decide(now: later).isAllowed)
        #expect(bucket.decide(now: later).retryAfter == .milliseconds(50))
    }

    @Test("property: no span admits more than burst + rate × span, and a busy client keeps the rate",
          arguments: [1, 2, 3] as [UInt64])
    func burstAndRateBound(seed: UInt64) {
        let interval: Int64 = 100_000_000, perFill: Int64 = 3, burst = 5
        let config = TokenBucket.Configuration(maxTokens: burst, tokensPerFill: Int(perFill),
                                               fillInterval: .nanoseconds(interval))
        let arrivals = Arrivals.random(count: 20_000, maxGap: 20_000_000, seed: seed)
        var bucket = TokenBucket(configuration: config, now: .nanoseconds(arrivals[0]))
        let admitted = arrivals.filter { bucket.decide(now: .nanoseconds($0)).isAllowed }
        var violations = 0
        for i in admitted.indices {
            for j in i..<admitted.count {
                let allowance = Int64(burst) + (admitted[j] - admitted[i]) * perFill / interval
                if Int64(j - i + 1) > allowance { violations += 1 }
            }
        }
        #expect(violations == 0)
        let span = arrivals.last! - arrivals.first!
        #expect(Int64(admitted.count) >= Int64(burst) + span * perFill / interval - 1)
    }

    @Test("discrete fill adds tokens_per_fill at each interval boundary after creation, nothing between")
    func discreteFill() {
        let config = TokenBucket.Configuration(maxTokens: 5, tokensPerFill: 2, fillInterval: .seconds(1),
                                               fill: .discrete)
        var bucket = TokenBucket(configuration: config, now: .seconds(10))
        #expect((0..<5).allSatisfy { _ in bucket.decide(now: .seconds(10)).isAllowed })
        let refused = bucket.decide(now: .milliseconds(10_999))
        #expect(!refused.isAllowed && refused.retryAfter == .milliseconds(1))
        // Full again after three fills (2 + 2 + 1 capped): at 13 s.
        #expect(refused.resetAfter == .milliseconds(2001))
        #expect(bucket.decide(now: .seconds(11)).isAllowed && bucket.decide(now: .seconds(11)).isAllowed)
        #expect(!bucket.decide(now: .milliseconds(11_999)).isAllowed)
        // Fills at 12 s and 13 s: four tokens, then a wait for the fill at 14 s.
        #expect((0..<4).allSatisfy { _ in bucket.decide(now: .milliseconds(13_500)).isAllowed })
        #expect(bucket.decide(now: .milliseconds(13_500)).retryAfter == .milliseconds(500))
    }

    @Test("both fills admit the same long-run rate under constant demand")
    func fillsAgreeOnRate() {
        func admitted(_ fill: TokenBucket.Fill) -> Int {
            let config = TokenBucket.Configuration(maxTokens: 4, tokensPerFill: 2, fillInterval: .milliseconds(500),
                                                   fill: fill)
            var bucket = TokenBucket(configuration: config, now: .zero)
            return (0..<100_000).filter { bucket.decide(now: .milliseconds($0)).isAllowed }.count
        }
        // The last request is at 99.999 s: the initial 4, then 4 tokens per second continuously
        // (399 whole ones) or 2 at each of the 199 fills from 0.5 s to 99.5 s.
        #expect(admitted(.continuous) == 4 + 399)
        #expect(admitted(.discrete) == 4 + 2 * 199)
    }

    @Test("more permits than max_tokens are never admitted; max_tokens 0 refuses everything")
    func neverAdmitted() {
        var bucket = TokenBucket(configuration: .init(maxTokens: 10, fillInterval: .seconds(1)), now: .zero)
        let tooMany = bucket.acquire(permits: 11, now: .zero)
        #expect(!tooMany.isAllowed && tooMany.isNeverAllowed && tooMany.remaining == 10)
        #expect(bucket.acquire(permits: 10, now: .zero).isAllowed)
        var closed = TokenBucket(configuration: .init(maxTokens: 0, fillInterval: .seconds(1)), now: .zero)
        let d = closed.decide(now: .seconds(3600))
        #expect(!d.isAllowed && d.isNeverAllowed && d.limit == 0)
    }

    @Test("a daily quota refills exactly, where elapsed time × tokens_per_fill exceeds 64 bits")
    func largeBudgets() {
        let daily = TokenBucket.Configuration(maxTokens: 1_000_000, tokensPerFill: 1_000_000,
                                              fillInterval: .seconds(86_400))
        var bucket = TokenBucket(configuration: daily, now: .zero)
        #expect(bucket.acquire(permits: 1_000_000, now: .zero).isAllowed)
        // 3 h × 10^6 tokens per fill = 1.08 × 10^19 ns·tokens, past Int64.max.
        #expect(bucket.tokens(now: .seconds(3 * 3600)) == 125_000)
        #expect(bucket.tokens(now: .seconds(3 * 3600) - .nanoseconds(1)) == 124_999)
        let huge = TokenBucket.Configuration(maxTokens: Int(UInt32.max), tokensPerFill: 1, fillInterval: .seconds(3600))
        var full = TokenBucket(configuration: huge, now: .zero)
        #expect(full.acquire(permits: Int(UInt32.max), now: .zero).isAllowed)
        #expect(full.tokens(now: .seconds(86_400 * 365 * 200)) == 200 * 365 * 24)
    }
}
