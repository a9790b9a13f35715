import FerryPolicy
import Testing

@Suite("Leaky bucket and concurrency limiter")
struct GovernanceLeakyBucketTests {
    @Test("an empty bucket lets a request go at once; the next ones wait one interval more each, burst at most")
    func delaysThenRefuses() {
        var bucket = LeakyBucket(configuration: .init(emissionInterval: .milliseconds(100), burst: 3), now: .zero)
        let t: Duration = .seconds(5)
        let first = bucket.decide(now: t)
        #expect(first.isAllowed && first.delay == .zero && first.limit == 4 && first.remaining == 3)
        for (n, remaining) in [(1, 2), (2, 1), (3, 0)] {
            let d = bucket.decide(now: t)
            #expect(d.isAllowed && d.delay == .milliseconds(100 * n) && d.remaining == remaining)
        }
        #expect(bucket.queued(now: t) == 3)
        let refused = bucket.decide(now: t)
        #expect(!refused.isAllowed && refused.retryAfter == .milliseconds(100))
        #expect(refused.resetAfter == .milliseconds(400))
        // 150 ms later the first two waiters have left: one place is free, with a wait of 250 ms.
        #expect(bucket.queued(now: t + .milliseconds(150)) == 2)
        let later = bucket.decide(now: t + .milliseconds(150))
        #expect(later.isAllowed && later.delay == .milliseconds(250) && later.remaining == 0)
    }

    @Test("property: departures stay one interval apart, nobody waits more than burst intervals, the rate is kept",
          arguments: [7, 8, 9] as [UInt64])
    func outputKeepsTheRate(seed: UInt64) {
        let interval: Int64 = 10_000_000, burst = 4
        let config = LeakyBucket.Configuration(emissionInterval: .nanoseconds(interval), burst: burst)
        var bucket = LeakyBucket(configuration: config, now: .zero)
        let arrivals = Arrivals.random(count: 20_000, maxGap: 15_000_000, seed: seed)
        var departures: [Int64] = [], longestWait: Int64 = 0
        for t in arrivals {
            let d = bucket.decide(now: .nanoseconds(t))
            guard d.isAllowed else { continue }
            let wait = Int64(d.delay.components.attoseconds / 1_000_000_000)
            departures.append(t + wait)
            longestWait = max(longestWait, wait)
        }
        #expect(zip(departures, departures.dropFirst()).allSatisfy { $1 - $0 >= interval })
        #expect(longestWait <= Int64(burst) * interval && longestWait > 0)
        // Demand (one per 7.5 ms on average) exceeds the rate, so the output runs at the rate.
        let span = departures.last! - departures.first!
        #expect(departures.count >= Int(span / interval) - 1 && departures.count < arrivals.count)
    }

    @Test("rate per second is turned into an interval rounded up; burst 0 only polices")
    func rateAndPolicing() {
        #expect(LeakyBucket.Configuration(rate: 3, burst: 0).emissionInterval == .nanoseconds(333_333_334))
        var police = LeakyBucket(configuration: .init(rate: 10, burst: 0), now: .zero)
        #expect(police.decide(now: .seconds(1)).isAllowed)
        let refused = police.decide(now: .milliseconds(1_060))
        #expect(!refused.isAllowed && refused.retryAfter == .milliseconds(40))
        #expect(police.decide(now: .milliseconds(1_100)).delay == .zero)
    }

    @Test("a concurrency limiter admits up to its limit and ignores releases it did not grant")
    func concurrencyLimiter() {
        var limiter = ConcurrencyLimiter(limit: 2)
        #expect(limiter.tryAcquire() && limiter.tryAcquire())
        #expect(!limiter.tryAcquire() && limiter.rejected == 1 && limiter.available == 0)
        #expect(limiter.release() == true)
        #expect(!limiter.tryAcquire(permits: 2) && limiter.tryAcquire())
        limiter.limit = 1  // lowered below what is in flight: newcomers wait for two releases
        #expect(limiter.release() && !limiter.tryAcquire())
        #expect(limiter.release() && !limiter.release() && limiter.inFlight == 0)
        #expect(limiter.tryAcquire() && limiter.inFlight == 1)
    }
}
