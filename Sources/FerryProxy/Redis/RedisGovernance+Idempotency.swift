import NIOCore

extension RedisGovernance {
    /// What to do with a request carrying an idempotency key.
    public enum IdempotencyBegin: Equatable, Sendable {
        /// No entry: this request now holds the key (in flight) and should run.
        case proceed
        /// Another request with the same key and fingerprint is running.
        case inFlight
        /// The key was used for a different request (another fingerprint).
        case mismatch
        /// The same request completed before: these are the bytes `completeIdempotency` stored.
        case replay(ByteBuffer)
    }

    /// Claims `key` for a request identified by `fingerprint` (a hash of method, path, body).
    /// The claim lasts `lockTTLMs`, so a process that dies mid-request frees the key.
    public static func beginIdempotency(
        _ client: RedisClient, key: String, fingerprint: String, lockTTLMs: Int, timeout: TimeAmount? = nil,
        _ callback: @escaping Callback<IdempotencyBegin>
    ) {
        guard lockTTLMs > 0 else { return callback(.failure(.invalidArgument("idempotency needs lockTTLMs > 0"))) }
        let arguments: [RESPArgument] = [.string(fingerprint), .integer(lockTTLMs)]
        client.evaluate(IdempotencyScripts.begin, keys: [.string(key)], arguments: arguments, timeout: timeout) {
            callback($0.flatMap(beginOutcome))
        }
    }

    private static func beginOutcome(_ reply: RESPValue) -> Result<IdempotencyBegin, RedisError> {
        let values = reply.array ?? []
        switch (values.first?.string, values.count) {
        case ("proceed", 1): return .success(.proceed)
        case ("in_flight", 1): return .success(.inFlight)
        case ("mismatch", 1): return .success(.mismatch)
        case ("replay", 2) where values[1].bytes != nil: return .success(.replay(values[1].bytes!))
        default: return .failure(.unexpectedReply("\(reply)"))
        }
    }

    /// Stores `response` (the bytes to replay) for `ttlMs`, if the key is still this
    /// fingerprint's claim or has lapsed; the callback says whether it was stored.
    public static func completeIdempotency(
        _ client: RedisClient, key: String, fingerprint: String, response: ByteBuffer, ttlMs: Int,
        timeout: TimeAmount? = nil, _ callback: @escaping Callback<Bool>
    ) {
        guard ttlMs > 0 else { return callback(.failure(.invalidArgument("idempotency needs ttlMs > 0"))) }
        let arguments: [RESPArgument] = [.string(fingerprint), .bytes(response), .integer(ttlMs)]
        client.evaluate(IdempotencyScripts.complete, keys: [.string(key)], arguments: arguments, timeout: timeout) {
            callback(flag($0))
        }
    }

    /// Drops an in-flight claim (the request failed and may be retried); a completed entry stays.
    /// The callback says whether a claim was dropped.
    public static func abandonIdempotency(
        _ client: RedisClient, key: String, timeout: TimeAmount? = nil, _ callback: @escaping Callback<Bool>
    ) {
        client.evaluate(IdempotencyScripts.abandon, keys: [.string(key)], arguments: [], timeout: timeout) {
            callback(flag($0))
        }
    }

    private static func flag(_ result: Result<RESPValue, RedisError>) -> Result<Bool, RedisError> {
        result.flatMap { reply in
            guard let value = reply.integer else { return .failure(.unexpectedReply("\(reply)")) }
            return .success(value == 1)
        }
    }

    /// One hash per key: state (`inflight` | `done`), fp (fingerprint), resp (stored bytes).
    enum IdempotencyScripts {
        /// ARGV fingerprint, lock_ttl_ms → {'proceed'} | {'in_flight'} | {'mismatch'} | {'replay', bytes}.
        static let begin = RedisScript(
            """
            local entry = redis.call('HMGET', KEYS[1], 'state', 'fp', 'resp')
            if not entry[1] then
              redis.call('DEL', KEYS[1])
              redis.call('HSET', KEYS[1], 'state', 'inflight', 'fp', ARGV[1])
              redis.call('PEXPIRE', KEYS[1], ARGV[2])
              return {'proceed'}
            end
            if entry[2] ~= ARGV[1] then return {'mismatch'} end
            if entry[1] == 'done' then return {'replay', entry[3] or ''} end
            return {'in_flight'}
            """)

        /// ARGV fingerprint, response, ttl_ms → 1 stored, 0 not (another fingerprint, or done).
        static let complete = RedisScript(
            """
            local entry = redis.call('HMGET', KEYS[1], 'state', 'fp')
            if entry[1] and (entry[1] ~= 'inflight' or entry[2] ~= ARGV[1]) then return 0 end
            redis.call('HSET', KEYS[1], 'state', 'done', 'fp', ARGV[1], 'resp', ARGV[2])
            redis.call('PEXPIRE', KEYS[1], ARGV[3])
            return 1
            """)

        /// → 1 when an in-flight claim was dropped, else 0.
        static let abandon = RedisScript(
            """
            if redis.call('HGET', KEYS[1], 'state') == 'inflight' then
              return redis.call('DEL', KEYS[1])
            end
            return 0
            """)
    }
}
