import FerryPolicy
import Testing

/// Envoy's stream rate limiter arithmetic: a 50 ms first burst, then the rate, at most one
/// second's worth saved up.
@Suite("Stream rate limiter")
struct StreamRateLimiterTests {
    static let ms: Int64 = 1_000_000

    @Test("a new limiter grants one fill interval's worth (50 ms of the rate) at once")
    func firstBurst() {
        var limiter = StreamRateLimiter(kibPerSecond: 32, now: 0)
        #expect(limiter.take(upTo: 100_000, now: 0) == 1638)
        #expect(limiter.take(upTo: 100_000, now: 0) == 0)
    }

    @Test("afterwards bytes flow at the rate: 50 ms more gives 50 ms of tokens")
    func steadyRate() {
        var limiter = StreamRateLimiter(kibPerSecond: 32, now: 0)
        _ = limiter.take(upTo: 100_000, now: 0)
        #expect(limiter.take(upTo: 100_000, now: 50 * Self.ms) == 1638)
        var total = 0
        for step in 2...21 { total += limiter.take(upTo: 100_000, now: Int64(step) * 50 * Self.ms) }
        // 20 more intervals are one second: 32 KiB, within the rounding of each grant.
        #expect((32768 - 21)...32768 ~= total)
    }

    @Test("an idle stream saves up at most one second's worth")
    func burstCap() {
        var limiter = StreamRateLimiter(kibPerSecond: 4, now: 0)
        #expect(limiter.take(upTo: 1_000_000, now: 10_000 * Self.ms) == 4096)
    }

    @Test("a grant never exceeds what is asked for, and leaves the rest in the bucket")
    func partial() {
        var limiter = StreamRateLimiter(kibPerSecond: 32, now: 0)
        #expect(limiter.take(upTo: 100, now: 0) == 100)
        #expect(limiter.take(upTo: 100_000, now: 0) == 1538)
        #expect(limiter.take(upTo: -5, now: 0) == 0)
    }
}
