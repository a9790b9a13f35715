import FerryConfig
import FerryTelemetry
import NIOCore

/// GLOBAL scope: the budget lives in Redis, shared by every Ferry process that names the same
/// server, key prefix and stat prefix. Each decision is one atomic script on the server
/// (RedisGovernance), run on the stream's loop through that loop's own client.
extension RateLimitRule {
    /// A decision from Redis, in the terms the filter answers with.
    struct GlobalDecision {
        var allowed: Bool
        var limit: Int
        var remaining: Int
        var retryAfterSeconds: Int64?
        var resetSeconds: Int64
        var delay: TimeAmount = .zero
    }

    static func seconds(ms: Int) -> Int64 { Int64((ms + 999) / 1000) }

    func redisConfiguration(_ redis: RateLimitConfig.Redis) -> RedisClient.Configuration {
        var c = RedisClient.Configuration(host: redis.host, port: redis.port)
        c.username = redis.username
        c.password = redis.password
        c.database = redis.database
        c.commandTimeout = TimeAmount(redis.timeout)
        return c
    }

    /// Asks Redis for `key` (the descriptor key); `callback` runs on the stream's loop, possibly
    /// before this returns (when the client is down it fails at once).
    func decideGlobal(_ redis: RateLimitConfig.Redis, key: String, leaseID: String, worker: Worker,
                      _ callback: @escaping (Result<GlobalDecision, RedisError>) -> Void) {
        worker.redisCall(redisConfiguration(redis), until: worker.loop.now + TimeAmount(redis.timeout), { client, reply in
            self.decideGlobal(client, redis, key: key, leaseID: leaseID, reply)
        }, callback)
    }

    private func decideGlobal(_ client: RedisClient, _ redis: RateLimitConfig.Redis, key: String, leaseID: String,
                              _ callback: @escaping (Result<GlobalDecision, RedisError>) -> Void) {
        let redisKey = redisKey(redis, key)
        let b = config.overrides[key] ?? config.budget
        func ms(_ d: Duration) -> Int { Int(TimeAmount(d).nanoseconds / 1_000_000) }
        switch config.algorithm {
        case .fixedWindow:
            RedisGovernance.fixedWindow(client, key: redisKey, limit: b.limit, windowMs: ms(b.window)) { result in
                callback(result.map { d in
                    GlobalDecision(allowed: d.allowed, limit: b.limit, remaining: d.remaining,
                                   retryAfterSeconds: Self.seconds(ms: d.resetMs), resetSeconds: Self.seconds(ms: d.resetMs))
                })
            }
        case .slidingWindow:
            RedisGovernance.slidingWindow(client, key: redisKey, limit: b.limit, windowMs: ms(b.window), granularityMs: ms(b.granularity)) { result in
                callback(result.map { d in
                    let retry = d.retryAfterMs.map { Self.seconds(ms: $0) }
                    return GlobalDecision(allowed: d.allowed, limit: b.limit, remaining: d.remaining, retryAfterSeconds: retry,
                                          resetSeconds: Self.seconds(ms: ms(b.window)))
                })
            }
        case .tokenBucket:
            RedisGovernance.tokenBucket(client, key: redisKey, maxTokens: b.maxTokens, tokensPerFill: b.tokensPerFill,
                                        fillIntervalMs: ms(b.fillInterval)) { result in
                callback(result.map { d in
                    GlobalDecision(allowed: d.allowed, limit: b.maxTokens, remaining: d.remaining,
                                   retryAfterSeconds: Self.seconds(ms: d.nextTokenMs), resetSeconds: Self.seconds(ms: d.nextTokenMs))
                })
            }
        case .leakyBucket:
            let rate = Double(b.rate) / (Double(TimeAmount(b.per).nanoseconds) / 1e9)
            RedisGovernance.leakyBucket(client, key: redisKey, ratePerSecond: rate, burst: b.burst) { result in
                callback(result.map { d in
                    switch d {
                    case .admitNow: GlobalDecision(allowed: true, limit: b.burst + 1, remaining: 0, resetSeconds: 0)
                    case .admitAfter(let delayMs):
                        GlobalDecision(allowed: true, limit: b.burst + 1, remaining: 0, resetSeconds: Self.seconds(ms: delayMs),
                                       delay: .milliseconds(Int64(delayMs)))
                    case .reject(let retryAfterMs):
                        GlobalDecision(allowed: false, limit: b.burst + 1, remaining: 0, retryAfterSeconds: Self.seconds(ms: retryAfterMs),
                                       resetSeconds: Self.seconds(ms: retryAfterMs))
                    }
                })
            }
        case .concurrency:
            RedisGovernance.acquireConcurrency(client, key: redisKey, leaseID: leaseID, limit: b.limit,
                                               leaseTTLMs: ms(redis.leaseTTL)) { result in
                callback(result.map { d in
                    GlobalDecision(allowed: d.acquired, limit: b.limit, remaining: max(b.limit - d.inFlight, 0),
                                   retryAfterSeconds: d.retryAfterMs.map { Self.seconds(ms: $0) } ?? 1, resetSeconds: 0)
                })
            }
        }
    }

    /// Gives back a CONCURRENCY lease (fire and forget: an unreleased lease expires by itself).
    func releaseGlobal(_ redis: RateLimitConfig.Redis, key: String, leaseID: String, worker: Worker) {
        RedisGovernance.releaseConcurrency(worker.redisClient(redisConfiguration(redis)), key: redisKey(redis, key), leaseID: leaseID) { _ in }
    }

    private func redisKey(_ redis: RateLimitConfig.Redis, _ key: String) -> String {
        "\(redis.keyPrefix)\(config.statPrefix):\(key)"
    }
}
