import NIOCore

/// Governance decisions shared by many Ferry processes through one Redis (the `global` scope).
/// Each decision is one atomic script run (`EVALSHA`, one round trip) on the caller's key, timed
/// by the Redis server's clock, so every process agrees on windows and refills.
///
/// Callbacks run on the client's loop, maybe before the call returns. A `RedisError` (not
/// connected, timeout, a bad argument) is never a decision: the caller's failure mode decides
/// (`failure_mode_deny`).
///
/// ```swift
/// RedisGovernance.fixedWindow(client, key: "rl:tenant-a", limit: 100, windowMs: 1000) { result in
///     switch result {
///     case .success(let decision): decision.allowed ? proceed() : reply429(resetMs: decision.resetMs)
///     case .failure: failureModeDeny ? reply429(resetMs: 0) : proceed()
///     }
/// }
/// ```
public enum RedisGovernance {
    public typealias Callback<Decision> = (Result<Decision, RedisError>) -> Void

    public struct FixedWindowDecision: Equatable, Sendable {
        public var allowed: Bool
        /// Hits left in this window after this one.
        public var remaining: Int
        /// Milliseconds until the window ends and the budget is whole again.
        public var resetMs: Int

        public init(allowed: Bool, remaining: Int, resetMs: Int) {
            self.allowed = allowed
            self.remaining = remaining
            self.resetMs = resetMs
        }
    }

    /// A fixed window of `windowMs` starting at its first hit, admitting `limit` cost in total.
    /// A rejected hit does not count.
    public static func fixedWindow(
        _ client: RedisClient, key: String, limit: Int, windowMs: Int, cost: Int = 1, timeout: TimeAmount? = nil,
        _ callback: @escaping Callback<FixedWindowDecision>
    ) {
        guard limit >= 0, windowMs > 0, cost >= 0 else {
            return callback(.failure(.invalidArgument("fixed window needs limit >= 0, windowMs > 0, cost >= 0")))
        }
        run(
            client, RedisRateLimitScripts.fixedWindow, key, [.integer(limit), .integer(windowMs), .integer(cost)],
            timeout, callback
        ) { FixedWindowDecision(allowed: $0[0] == 1, remaining: $0[1], resetMs: $0[2]) }
    }

    public struct SlidingWindowDecision: Equatable, Sendable {
        public var allowed: Bool
        /// Hits left in the current window after this one.
        public var remaining: Int
        /// When rejected: milliseconds until enough old hits leave the window for this one;
        /// nil when allowed, or when the cost exceeds the limit (never).
        public var retryAfterMs: Int?

        public init(allowed: Bool, remaining: Int, retryAfterMs: Int?) {
            self.allowed = allowed
            self.remaining = remaining
            self.retryAfterMs = retryAfterMs
        }
    }

    /// A sliding window of `windowMs` counted in buckets of `granularityMs`, conservatively: no
    /// window of `windowMs` ever holds more than `limit` admitted cost. At most 1000 buckets.
    public static func slidingWindow(
        _ client: RedisClient, key: String, limit: Int, windowMs: Int, granularityMs: Int, cost: Int = 1,
        timeout: TimeAmount? = nil, _ callback: @escaping Callback<SlidingWindowDecision>
    ) {
        guard limit >= 0, cost >= 0, granularityMs > 0, windowMs >= granularityMs, windowMs / granularityMs <= 1000
        else {
            return callback(
                .failure(
                    .invalidArgument(
                        "sliding window needs limit >= 0, cost >= 0, 0 < granularityMs <= windowMs, "
                            + "windowMs / granularityMs <= 1000")))
        }
        let arguments: [RESPArgument] = [.integer(limit), .integer(windowMs), .integer(granularityMs), .integer(cost)]
        run(client, RedisRateLimitScripts.slidingWindow, key, arguments, timeout, callback) {
            SlidingWindowDecision(
                allowed: $0[0] == 1, remaining: $0[1], retryAfterMs: $0[0] == 1 || $0[2] < 0 ? nil : $0[2])
        }
    }

    public struct TokenBucketDecision: Equatable, Sendable {
        public var allowed: Bool
        /// Tokens left after this request.
        public var remaining: Int
        /// Milliseconds until the next fill; 0 when the bucket is full.
        public var nextTokenMs: Int

        public init(allowed: Bool, remaining: Int, nextTokenMs: Int) {
            self.allowed = allowed
            self.remaining = remaining
            self.nextTokenMs = nextTokenMs
        }
    }

    /// Envoy's token bucket: `maxTokens`, plus `tokensPerFill` every `fillIntervalMs`; starts full.
    public static func tokenBucket(
        _ client: RedisClient, key: String, maxTokens: Int, tokensPerFill: Int, fillIntervalMs: Int, cost: Int = 1,
        timeout: TimeAmount? = nil, _ callback: @escaping Callback<TokenBucketDecision>
    ) {
        guard maxTokens >= 0, tokensPerFill > 0, fillIntervalMs > 0, cost >= 0 else {
            return callback(
                .failure(.invalidArgument("token bucket needs maxTokens >= 0, tokensPerFill > 0, fillIntervalMs > 0")))
        }
        let arguments: [RESPArgument] = [
            .integer(maxTokens), .integer(tokensPerFill), .integer(fillIntervalMs), .integer(cost),
        ]
        run(client, RedisRateLimitScripts.tokenBucket, key, arguments, timeout, callback) {
            TokenBucketDecision(allowed: $0[0] == 1, remaining: $0[1], nextTokenMs: $0[2])
        }
    }

    public enum LeakyBucketDecision: Equatable, Sendable {
        case admitNow
        /// Admitted, to be forwarded after this many milliseconds (its turn in the queue).
        case admitAfter(delayMs: Int)
        /// The queue is full; a request could wait its turn again after this many milliseconds.
        case reject(retryAfterMs: Int)
    }

    /// A leaky bucket draining `ratePerSecond`, where up to `burst` requests may wait their turn.
    public static func leakyBucket(
        _ client: RedisClient, key: String, ratePerSecond: Double, burst: Int, cost: Int = 1,
        timeout: TimeAmount? = nil, _ callback: @escaping Callback<LeakyBucketDecision>
    ) {
        guard ratePerSecond > 0, ratePerSecond.isFinite, burst >= 0, cost >= 0 else {
            return callback(.failure(.invalidArgument("leaky bucket needs ratePerSecond > 0, burst >= 0, cost >= 0")))
        }
        let arguments: [RESPArgument] = [.string(String(ratePerSecond)), .integer(burst), .integer(cost)]
        run(client, RedisRateLimitScripts.leakyBucket, key, arguments, timeout, callback, count: 2) {
            switch $0[0] {
            case 1: return .admitNow
            case 2: return .admitAfter(delayMs: $0[1])
            default: return .reject(retryAfterMs: $0[1])
            }
        }
    }

    /// Runs `script` on `key` and decodes its reply, an array of `count` integers.
    static func run<Decision>(
        _ client: RedisClient, _ script: RedisScript, _ key: String, _ arguments: [RESPArgument],
        _ timeout: TimeAmount?, _ callback: @escaping Callback<Decision>, count: Int = 3,
        decode: @escaping ([Int]) -> Decision
    ) {
        client.evaluate(script, keys: [.string(key)], arguments: arguments, timeout: timeout) { result in
            callback(
                result.flatMap { reply in
                    let values = reply.array?.compactMap(\.integer) ?? []
                    guard values.count == count, reply.array?.count == count else {
                        return .failure(.unexpectedReply("\(count) integers expected, got \(reply)"))
                    }
                    return .success(decode(values))
                })
        }
    }
}
