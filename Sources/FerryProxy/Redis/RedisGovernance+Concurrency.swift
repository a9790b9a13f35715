import NIOCore

extension RedisGovernance {
    public struct ConcurrencyDecision: Equatable, Sendable {
        public var acquired: Bool
        /// Leases held after this call (this one included when acquired).
        public var inFlight: Int
        /// When rejected: milliseconds until the oldest lease expires at the latest (it may be
        /// released sooner); nil when acquired.
        public var retryAfterMs: Int?

        public init(acquired: Bool, inFlight: Int, retryAfterMs: Int?) {
            self.acquired = acquired
            self.inFlight = inFlight
            self.retryAfterMs = retryAfterMs
        }
    }

    /// Takes one of `limit` in-flight slots under `leaseID` (unique per request, e.g. its
    /// request id) for at most `leaseTTLMs`: a process that dies holding leases loses them when
    /// they expire. Acquiring a lease already held renews it without taking another slot.
    /// Release with `releaseConcurrency` when the request ends.
    public static func acquireConcurrency(
        _ client: RedisClient, key: String, leaseID: String, limit: Int, leaseTTLMs: Int, timeout: TimeAmount? = nil,
        _ callback: @escaping Callback<ConcurrencyDecision>
    ) {
        guard limit >= 0, leaseTTLMs > 0, !leaseID.isEmpty else {
            return callback(.failure(.invalidArgument("concurrency needs limit >= 0, leaseTTLMs > 0, a lease id")))
        }
        let arguments: [RESPArgument] = [.integer(limit), .string(leaseID), .integer(leaseTTLMs)]
        run(client, ConcurrencyScripts.acquire, key, arguments, timeout, callback) {
            ConcurrencyDecision(acquired: $0[0] == 1, inFlight: $0[1], retryAfterMs: $0[0] == 1 ? nil : $0[2])
        }
    }

    /// Gives a lease back; the callback says whether it was still held (false once expired).
    public static func releaseConcurrency(
        _ client: RedisClient, key: String, leaseID: String, timeout: TimeAmount? = nil,
        _ callback: @escaping Callback<Bool>
    ) {
        client.send(["ZREM", .string(key), .string(leaseID)], timeout: timeout) { result in
            callback(
                result.flatMap { reply in
                    guard let removed = reply.integer else { return .failure(.unexpectedReply("\(reply)")) }
                    return .success(removed == 1)
                })
        }
    }

    enum ConcurrencyScripts {
        /// KEYS[1] sorted set lease → expiry (server ms); ARGV limit, lease, ttl_ms →
        /// {acquired, in_flight, retry_after_ms}.
        static let acquire = RedisScript(
            RedisRateLimitScripts.prelude + """
                local limit, lease, ttl = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
                local now = now_ms()
                redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
                local held = redis.call('ZSCORE', KEYS[1], lease)
                local count = redis.call('ZCARD', KEYS[1])
                if held or count < limit then
                  redis.call('ZADD', KEYS[1], now + ttl, lease)
                  if not held then count = count + 1 end
                  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
                  return {1, count, 0}
                end
                local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
                local retry = 0
                if oldest[2] then retry = math.max(1, tonumber(oldest[2]) - now) end
                return {0, count, retry}
                """)
    }
}
