import FerryProxy
import FerryTestKit
import NIOCore
import Testing

/// The global rate-limit scripts against a real redis-server: each decision's fields, the limit
/// held exactly when two clients on two loops share a key, and time measured by the server.
@Suite("Redis rate limits")
struct RedisRateLimitTests {
    /// Generous: these tests are about decisions, not latency (two shared cores, parallel tests).
    static let slow = TimeAmount.seconds(5)

    static func allowed<T>(_ results: [Result<T, RedisError>], _ isAllowed: (T) -> Bool) -> Int {
        results.filter { (try? $0.get()).map(isAllowed) == true }.count
    }

    // MARK: fixed window

    @Test("fixed window: admits the limit with remaining counting down, then rejects until the window resets")
    func fixedWindow() async throws {
        try await withRedis { client throws in
            let results = await client.burst(5) { redis, done in
                RedisGovernance.fixedWindow(redis, key: "fw", limit: 3, windowMs: 60_000, timeout: Self.slow, done)
            }
            let decisions = try results.map { try $0.get() }
            #expect(decisions.map(\.allowed) == [true, true, true, false, false])
            #expect(decisions.map(\.remaining) == [2, 1, 0, 0, 0])
            #expect(decisions.allSatisfy { (1...60_000).contains($0.resetMs) })
            // Rejected hits do not count: the counter holds what was admitted.
            #expect(try await client.expectValue(["GET", "fw"]) == .bulkString(ByteBuffer(string: "3")))
        }
    }

    @Test("fixed window: two clients on two event loops share one window and admit exactly the limit together")
    func fixedWindowShared() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            let decide: Decide<RedisGovernance.FixedWindowDecision> = { redis, done in
                RedisGovernance.fixedWindow(
                    redis, key: "shared", limit: 25, windowMs: 60_000, timeout: Self.slow, done)
            }
            async let fromA = a.burst(30, decide)
            async let fromB = b.burst(30, decide)
            let all = await fromA + fromB
            #expect(all.allSatisfy { (try? $0.get()) != nil })
            #expect(Self.allowed(all) { $0.allowed } == 25)
            // Atomic decisions: every admitted hit saw a different count.
            let remaining = all.compactMap { try? $0.get() }.filter(\.allowed).map(\.remaining)
            #expect(remaining.sorted() == Array(0..<25))
        }
    }

    @Test("fixed window: after the window passes, the budget is whole again")
    func fixedWindowResets() async throws {
        try await withRedis { client throws in
            let first = await client.burst(3) { redis, done in
                RedisGovernance.fixedWindow(redis, key: "short", limit: 2, windowMs: 300, timeout: Self.slow, done)
            }
            #expect(first.map { (try? $0.get())?.allowed } == [true, true, false])
            let reset = try first[2].get().resetMs
            #expect((1...300).contains(reset))
            try await Task.sleep(for: .milliseconds(reset + 50))
            let again = try await client.decide { redis, done in
                RedisGovernance.fixedWindow(redis, key: "short", limit: 2, windowMs: 300, timeout: Self.slow, done)
            }.get()
            #expect(again.allowed)
            #expect(again.remaining == 1)
        }
    }

    @Test("invalid arguments fail at once, before anything is sent")
    func invalidArguments() async throws {
        try await withRedis { client throws in
            let answers: [String] = await client.call { redis, done in
                var answers: [String] = []
                RedisGovernance.fixedWindow(redis, key: "k", limit: 1, windowMs: 0) { answers.append("\($0)") }
                RedisGovernance.slidingWindow(redis, key: "k", limit: 1, windowMs: 10_000, granularityMs: 1) {
                    answers.append("\($0)")
                }
                RedisGovernance.tokenBucket(redis, key: "k", maxTokens: 1, tokensPerFill: 0, fillIntervalMs: 10) {
                    answers.append("\($0)")
                }
                RedisGovernance.leakyBucket(redis, key: "k", ratePerSecond: 0, burst: 1) { answers.append("\($0)") }
                done(answers)
            }
            #expect(answers.count == 4)
            #expect(answers.allSatisfy { $0.contains("invalid argument") })
        }
    }

    // MARK: sliding window

    @Test("sliding window: admits the limit, then rejects with a retry-after within the window")
    func slidingWindow() async throws {
        try await withRedis { client throws in
            let decisions = try await client.burst(7) { redis, done in
                RedisGovernance.slidingWindow(
                    redis, key: "sw", limit: 5, windowMs: 60_000, granularityMs: 1000, timeout: Self.slow, done)
            }.map { try $0.get() }
            #expect(decisions.map(\.allowed) == [true, true, true, true, true, false, false])
            #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0, 0, 0])
            #expect(decisions.prefix(5).allSatisfy { $0.retryAfterMs == nil })
            #expect(decisions.suffix(2).allSatisfy { (1...61_000).contains($0.retryAfterMs ?? -1) })
            let tooBig = try await client.decide { redis, done in
                RedisGovernance.slidingWindow(
                    redis, key: "sw2", limit: 5, windowMs: 60_000, granularityMs: 1000, cost: 6, timeout: Self.slow,
                    done)
            }.get()
            #expect(!tooBig.allowed)
            #expect(tooBig.retryAfterMs == nil)  // never
        }
    }

    @Test("sliding window: two clients on two event loops admit exactly the limit together")
    func slidingWindowShared() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            let decide: Decide<RedisGovernance.SlidingWindowDecision> = { redis, done in
                RedisGovernance.slidingWindow(
                    redis, key: "shared", limit: 20, windowMs: 60_000, granularityMs: 100, timeout: Self.slow,
                    done)
            }
            async let fromA = a.burst(25, decide)
            async let fromB = b.burst(25, decide)
            let all = await fromA + fromB
            #expect(all.allSatisfy { (try? $0.get()) != nil })
            #expect(Self.allowed(all) { $0.allowed } == 20)
        }
    }

    @Test(
        "sliding window: no re-admission before a whole window since the first hit; admission once retry-after passed")
    func slidingWindowNeverEarly() async throws {
        try await withRedis { client throws in
            let decide: Decide<RedisGovernance.SlidingWindowDecision> = { redis, done in
                RedisGovernance.slidingWindow(
                    redis, key: "early", limit: 3, windowMs: 600, granularityMs: 100, timeout: Self.slow, done)
            }
            let start = ContinuousClock.now  // before the first hit reaches the server
            let first = try await client.burst(4, decide).map { try $0.get() }
            #expect(first.map(\.allowed) == [true, true, true, false])
            let retry = try #require(first[3].retryAfterMs)
            #expect((1...700).contains(retry))
            // Poll until admitted: every rejection in between is still inside the window.
            var admittedAt: ContinuousClock.Instant?
            while admittedAt == nil, ContinuousClock.now - start < .seconds(5) {
                if try await client.decide(decide).get().allowed { admittedAt = ContinuousClock.now }
                try await Task.sleep(for: .milliseconds(20))
            }
            let admitted = try #require(admittedAt, "never admitted again")
            #expect(admitted - start >= .milliseconds(600))
            // Retry-after is an upper bound that holds: waiting it out admits.
            let rejected = try await client.burst(3, decide).map { try $0.get() }.last!
            #expect(!rejected.allowed)
            try await Task.sleep(for: .milliseconds(try #require(rejected.retryAfterMs) + 5))
            #expect(try await client.decide(decide).get().allowed)
        }
    }

    // MARK: token bucket

    @Test("token bucket: starts full, spends a token per request, then rejects with the time to the next fill")
    func tokenBucket() async throws {
        try await withRedis { client throws in
            let decisions = try await client.burst(4) { redis, done in
                RedisGovernance.tokenBucket(
                    redis, key: "tb", maxTokens: 3, tokensPerFill: 1, fillIntervalMs: 60_000, timeout: Self.slow, done)
            }.map { try $0.get() }
            #expect(decisions.map(\.allowed) == [true, true, true, false])
            #expect(decisions.map(\.remaining) == [2, 1, 0, 0])
            #expect(decisions.allSatisfy { (1...60_000).contains($0.nextTokenMs) })
        }
    }

    @Test("token bucket: a fill interval later, a request is admitted again")
    func tokenBucketRefills() async throws {
        try await withRedis { client throws in
            let decide: Decide<RedisGovernance.TokenBucketDecision> = { redis, done in
                RedisGovernance.tokenBucket(
                    redis, key: "refill", maxTokens: 2, tokensPerFill: 1, fillIntervalMs: 300,
                    timeout: Self.slow, done)
            }
            let drained = try await client.burst(3, decide).map { try $0.get() }
            #expect(drained.map(\.allowed) == [true, true, false])
            let wait = drained[2].nextTokenMs
            #expect((1...300).contains(wait))
            try await Task.sleep(for: .milliseconds(wait + 5))
            #expect(try await client.decide(decide).get().allowed)
        }
    }

    @Test("token bucket: two clients on two event loops spend exactly the bucket together")
    func tokenBucketShared() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            let decide: Decide<RedisGovernance.TokenBucketDecision> = { redis, done in
                RedisGovernance.tokenBucket(
                    redis, key: "shared", maxTokens: 10, tokensPerFill: 1, fillIntervalMs: 60_000,
                    timeout: Self.slow,
                    done)
            }
            async let fromA = a.burst(8, decide)
            async let fromB = b.burst(8, decide)
            let all = await fromA + fromB
            #expect(all.allSatisfy { (try? $0.get()) != nil })
            #expect(Self.allowed(all) { $0.allowed } == 10)
        }
    }

    // MARK: leaky bucket

    @Test(
        "leaky bucket: one request goes now, `burst` more wait their turns a rate interval apart, the rest are rejected"
    )
    func leakyBucket() async throws {
        try await withRedis { client throws in
            let decide: Decide<RedisGovernance.LeakyBucketDecision> = { redis, done in
                RedisGovernance.leakyBucket(
                    redis, key: "lb", ratePerSecond: 1, burst: 2, timeout: Self.slow, done)
            }
            let decisions = try await client.burst(5, decide).map { try $0.get() }
            #expect(decisions[0] == .admitNow)
            guard case .admitAfter(let first) = decisions[1], case .admitAfter(let second) = decisions[2],
                case .reject(let retry) = decisions[3], case .reject = decisions[4]
            else {
                Issue.record("expected now, after, after, reject, reject: \(decisions)")
                return
            }
            #expect((1...1000).contains(first))
            #expect((1001...2000).contains(second))
            #expect((1...1000).contains(retry))
            try await Task.sleep(for: .milliseconds(retry + 5))
            guard case .admitAfter = try await client.decide(decide).get() else {
                Issue.record("after retry-after, the request should queue")
                return
            }
        }
    }

    @Test("leaky bucket: burst 0 admits at the rate only, and two loops share the queue exactly")
    func leakyBucketSharedAndNoBurst() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            let strict = try await a.burst(2) { redis, done in
                RedisGovernance.leakyBucket(redis, key: "strict", ratePerSecond: 1, burst: 0, timeout: Self.slow, done)
            }.map { try $0.get() }
            #expect(strict.first == .admitNow)
            guard case .reject = strict.last else {
                Issue.record("burst 0 queues nothing: \(strict)")
                return
            }

            let decide: Decide<RedisGovernance.LeakyBucketDecision> = { redis, done in
                RedisGovernance.leakyBucket(
                    redis, key: "shared", ratePerSecond: 1, burst: 9, timeout: Self.slow, done)
            }
            async let fromA = a.burst(8, decide)
            async let fromB = b.burst(8, decide)
            let all = try await (fromA + fromB).map { try $0.get() }
            #expect(all.filter { $0 == .admitNow }.count == 1)
            let delays = all.compactMap { if case .admitAfter(let ms) = $0 { ms } else { nil } }.sorted()
            #expect(delays.count == 9)
            // Each queued request has its own turn, a second after the one before (all 16 calls
            // reach the server well within the first second).
            for (turn, delay) in delays.enumerated() {
                #expect(((turn * 1000 + 1)...((turn + 1) * 1000)).contains(delay), "turn \(turn + 1): \(delays)")
            }
        }
    }
}
