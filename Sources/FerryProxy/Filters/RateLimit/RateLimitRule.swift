import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// `KeyedLimiters` plus the keys with their own budget (`overrides`), which are never evicted.
/// Only used under its rule's lock.
struct KeyedRule<L: RateLimiter>: @unchecked Sendable {
    var keyed: KeyedLimiters<L>
    var overrides: [String: L]

    @inline(__always)
    mutating func decide(key: String, now: Duration) -> RateLimitDecision {
        if !overrides.isEmpty, overrides[key] != nil { return overrides[key]!.decide(now: now) }
        return keyed.decide(key: key, now: now)
    }

    var trackedKeys: Int { keyed.count + overrides.count }
}

/// The limiters of one rate limit rule, one per key, whatever the algorithm, each behind its
/// own lock. An enum of the concrete rules rather than an existential: each case's decision is
/// specialized for its limiter (called generically, through type metadata, a decision cost
/// several times more), and changed in place inside its box.
enum KeyedLimiterSet: Sendable {
    case tokenBucket(NIOLockedValueBox<KeyedRule<TokenBucket>>)
    case fixedWindow(NIOLockedValueBox<KeyedRule<FixedWindowLimiter>>)
    case slidingWindow(NIOLockedValueBox<KeyedRule<SlidingWindowLimiter>>)
    case leakyBucket(NIOLockedValueBox<KeyedRule<LeakyBucket>>)

    func decide(key: String, now: Duration) -> RateLimitDecision {
        switch self {
        case .tokenBucket(let box): box.withLockedValue { $0.decide(key: key, now: now) }
        case .fixedWindow(let box): box.withLockedValue { $0.decide(key: key, now: now) }
        case .slidingWindow(let box): box.withLockedValue { $0.decide(key: key, now: now) }
        case .leakyBucket(let box): box.withLockedValue { $0.decide(key: key, now: now) }
        }
    }

    var trackedKeys: Int {
        switch self {
        case .tokenBucket(let box): box.withLockedValue { $0.trackedKeys }
        case .fixedWindow(let box): box.withLockedValue { $0.trackedKeys }
        case .slidingWindow(let box): box.withLockedValue { $0.trackedKeys }
        case .leakyBucket(let box): box.withLockedValue { $0.trackedKeys }
        }
    }
}

/// One compiled `ferry.filters.http.rate_limit` rule. Its limiters are shared by every worker
/// loop behind one lock, so all loops draw from the same budget exactly; the critical section
/// is one decision (tens of nanoseconds, docs/benchmarks.md).
final class RateLimitRule: GovernanceState {
    let config: RateLimitConfig
    private let limiters: KeyedLimiterSet?
    /// CONCURRENCY: requests in flight per key.
    private let inFlight = NIOLockedValueBox<[String: Int]>([:])
    let ok, rateLimited, enforced, delayed, redisErrors, failureModeAllowed: CounterID
    /// A CONCURRENCY or GLOBAL rule gives its place or lease back when the stream completes.
    let releasesOnComplete: Bool
    /// The hooks of its `RateLimitFilter` (worked out once: the stream asks for every filter).
    let filterHooks: FilterHooks
    var kind: String { "rate_limit" }
    var statNames: [(label: String, name: String)] {
        ["ok", "rate_limited", "enforced", "delayed", "error", "failure_mode_allowed"].map { ($0, "\(config.statPrefix).rate_limit.\($0)") }
    }

    init(config: RateLimitConfig, store: StatsStore) {
        self.config = config
        releasesOnComplete = config.redis != nil || config.algorithm == .concurrency
        var hooks: FilterHooks = .decodeHeaders
        if config.headersOnSuccess { hooks.insert(.encodeHeaders) }
        if releasesOnComplete { hooks.insert(.onComplete) }
        filterHooks = hooks
        let now = Duration.nanoseconds(Int64(NIODeadline.now().uptimeNanoseconds))
        let idle = config.keyIdleTimeout ?? config.defaultIdleTimeout
        func rule<L: RateLimiter>(_ make: (RateLimitConfig.Budget) -> L.Configuration, _ type: L.Type) -> KeyedRule<L> {
            KeyedRule<L>(keyed: KeyedLimiters(configuration: make(config.budget), maxKeys: config.maxKeys, idleTimeout: idle),
                         overrides: config.overrides.mapValues { L(configuration: make($0), now: now) })
        }
        switch config.redis == nil ? config.algorithm : .concurrency {
        case .tokenBucket:
            limiters = .tokenBucket(NIOLockedValueBox(rule({ .init(maxTokens: $0.maxTokens, tokensPerFill: $0.tokensPerFill,
                                                                  fillInterval: $0.fillInterval) }, TokenBucket.self)))
        case .fixedWindow:
            limiters = .fixedWindow(NIOLockedValueBox(rule({ .init(limit: $0.limit, window: $0.window) }, FixedWindowLimiter.self)))
        case .slidingWindow:
            limiters = .slidingWindow(NIOLockedValueBox(rule({ .init(limit: $0.limit, window: $0.window, granularity: $0.granularity) },
                                                                  SlidingWindowLimiter.self)))
        case .leakyBucket:
            limiters = .leakyBucket(NIOLockedValueBox(rule({ .init(rate: $0.rate, per: $0.per, burst: $0.burst) }, LeakyBucket.self)))
        case .concurrency:
            limiters = nil
        }
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).rate_limit.\(name)")) }
        ok = c("ok")
        rateLimited = c("rate_limited")
        enforced = c("enforced")
        delayed = c("delayed")
        redisErrors = c("error")
        failureModeAllowed = c("failure_mode_allowed")
    }

    /// Decides one request for `key` (a rate algorithm: counts it when admitted).
    func decide(key: String, now: NIODeadline) -> RateLimitDecision? {
        limiters?.decide(key: key, now: .nanoseconds(Int64(now.uptimeNanoseconds)))
    }

    /// CONCURRENCY: takes an in-flight place for `key`; the result says how many are in use.
    func acquire(key: String) -> (allowed: Bool, limit: Int, inUse: Int) {
        let limit = config.overrides[key]?.limit ?? config.budget.limit
        return inFlight.withLockedValue { counts in
            let used = counts[key] ?? 0
            if used >= limit { return (false, limit, used) }
            if used == 0 && counts.count >= config.maxKeys { return (false, limit, used) }
            counts[key] = used + 1
            return (true, limit, used + 1)
        }
    }

    func release(key: String) {
        inFlight.withLockedValue { counts in
            guard let used = counts[key] else { return }
            counts[key] = used > 1 ? used - 1 : nil
        }
    }

    func json(now: NIODeadline) -> String {
        var fields = ["\"kind\":\"rate_limit\"", "\"algorithm\":\"\(config.algorithm.protoName)\"",
                      "\"stat_prefix\":\(JSON.quote(config.statPrefix))",
                      "\"scope\":\"\(config.redis == nil ? "LOCAL" : "GLOBAL")\""]
        // A GLOBAL rule's budget lives in Redis: only its counters (what this process decided)
        // are local.
        if let redis = config.redis {
            fields.append("\"redis\":\(JSON.quote("\(redis.host):\(redis.port)"))")
        } else if let limiters {
            fields.append("\"tracked_keys\":\(limiters.trackedKeys)")
            fields.append("\"max_keys\":\(config.maxKeys)")
        } else {
            let counts = inFlight.withLockedValue { $0 }
            fields.append("\"in_flight\":\(counts.values.reduce(0, +))")
            fields.append("\"tracked_keys\":\(counts.count)")
            fields.append("\"max_keys\":\(config.maxKeys)")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
