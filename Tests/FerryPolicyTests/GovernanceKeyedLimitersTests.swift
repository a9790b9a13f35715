import FerryPolicy
import Testing

@Suite("Keyed limiters")
struct GovernanceKeyedLimitersTests {
    /// Two requests, then one per hour: a key that was refused stays refused unless it starts afresh.
    static let slow = TokenBucket.Configuration(maxTokens: 2, fillInterval: .seconds(3600))

    @Test("each key has its own limiter")
    func separateKeys() {
        var limiters = KeyedLimiters<TokenBucket>(configuration: Self.slow, maxKeys: 10, idleTimeout: .seconds(60))
        #expect(limiters.decide(key: "a", now: .zero).isAllowed && limiters.decide(key: "a", now: .zero).isAllowed)
        #expect(!limiters.decide(key: "a", now: .zero).isAllowed)
        #expect(limiters.decide(key: "b", now: .zero).remaining == 1)
        #expect(limiters.count == 2 && limiters.limiter(for: "a")?.tokens(now: .zero) == 0)
    }

    @Test("with maxKeys tracked, a new key replaces the least recently used one, which later starts afresh")
    func evictsLeastRecentlyUsed() {
        var limiters = KeyedLimiters<TokenBucket>(configuration: Self.slow, maxKeys: 3, idleTimeout: .seconds(60))
        for key in ["a", "b", "c", "b", "b"] { _ = limiters.decide(key: key, now: .zero) }
        _ = limiters.decide(key: "a", now: .seconds(1))
        #expect(limiters.keysByRecency == ["a", "b", "c"])
        _ = limiters.decide(key: "d", now: .seconds(2))
        #expect(limiters.keysByRecency == ["d", "a", "b"] && limiters.evictions == 1)
        // "b" used its budget; evicted now by "c", it comes back with a full one.
        _ = limiters.decide(key: "c", now: .seconds(3))
        #expect(limiters.limiter(for: "b") == nil)
        #expect(limiters.decide(key: "b", now: .seconds(4)).remaining == 1)
        #expect(limiters.count == 3 && limiters.evictions == 3)
    }

    @Test("a key idle for idleTimeout starts afresh, and expireIdle drops idle keys")
    func idleKeys() {
        var limiters = KeyedLimiters<TokenBucket>(configuration: Self.slow, maxKeys: 10, idleTimeout: .seconds(10))
        for _ in 0..<3 { _ = limiters.decide(key: "a", now: .zero) }
        _ = limiters.decide(key: "b", now: .seconds(5))
        #expect(!limiters.decide(key: "a", now: .seconds(9)).isAllowed)
        #expect(limiters.decide(key: "a", now: .seconds(19)).remaining == 1)
        #expect(limiters.expireIdle(now: .seconds(19)) == 1 && limiters.keysByRecency == ["a"])
        #expect(limiters.expirations == 1 && limiters.count == 1)
    }

    @Test("property: recency order, evictions and idle expiry match a plain list model",
          arguments: [11, 12] as [UInt64])
    func matchesModel(seed: UInt64) {
        let maxKeys = 8, idle: Int64 = 20
        var limiters = KeyedLimiters<FixedWindowLimiter>(configuration: .init(limit: 1_000_000, window: .seconds(1000)),
                                                          maxKeys: maxKeys, idleTimeout: .nanoseconds(idle))
        var model: [(key: String, lastUsed: Int64)] = []  // most recent first
        var random = FastRandom(seed: seed)
        var t: Int64 = 0, evictions = 0, expirations = 0
        for _ in 0..<20_000 {
            t += Int64(random.next(below: 4))
            let now = Duration.nanoseconds(t)
            if random.next(below: 50) == 0 {
                let idleKeys = model.filter { t - $0.lastUsed >= idle }.count
                #expect(limiters.expireIdle(now: now) == idleKeys)
                model.removeAll { t - $0.lastUsed >= idle }
                expirations += idleKeys
                continue
            }
            let key = "k\(random.next(below: 20))"
            if let i = model.firstIndex(where: { $0.key == key }) {
                model.remove(at: i)
            } else {
                // A new key first drops up to two idle keys, then the least recent one if still full.
                for _ in 0..<2 where model.last.map({ t - $0.lastUsed >= idle }) == true {
                    model.removeLast()
                    expirations += 1
                }
                if model.count == maxKeys {
                    model.removeLast()
                    evictions += 1
                }
            }
            model.insert((key, t), at: 0)
            _ = limiters.decide(key: key, now: now)
        }
        #expect(limiters.keysByRecency == model.map(\.key))
        #expect(limiters.evictions == evictions && limiters.expirations == expirations)
        #expect(evictions > 0 && expirations > 0)
    }
}
