import Atomics
import FerryConfig
import FerryTelemetry
import NIOCore

/// Idempotency keys in Redis, so every Ferry instance behind a load balancer sees the same keys.
/// Each step is one atomic script (RedisGovernance): `begin` claims the key for
/// `in_flight_timeout` (a process that dies mid-request frees it), `complete` stores the response
/// for `ttl`, `abandon` drops a claim. Each worker loop talks to Redis on its own connection.
/// Redis unreachable or slower than `timeout`: the request runs unprotected, or with
/// `failure_mode_deny` gets 503 (as a full table does).
final class RedisIdempotencyStore: IdempotencyStore {
    let config: IdempotencyConfig
    let redis: RateLimitConfig.Redis
    let client: RedisClient.Configuration
    private let errors = ManagedAtomic<Int>(0)

    init(config: IdempotencyConfig, redis: RateLimitConfig.Redis) {
        self.config = config
        self.redis = redis
        var c = RedisClient.Configuration(host: redis.host, port: redis.port)
        c.username = redis.username
        c.password = redis.password
        c.database = redis.database
        c.commandTimeout = TimeAmount(redis.timeout)
        client = c
    }

    private func redisKey(_ key: String) -> String { "\(redis.keyPrefix)\(config.statPrefix):\(key)" }
    private static func text(_ fingerprint: UInt64) -> String { String(fingerprint, radix: 16) }
    private static func ms(_ d: Duration) -> Int { Int(TimeAmount(d).nanoseconds / 1_000_000) }

    func begin(key: String, fingerprint: UInt64, now: Duration, worker: Worker, _ done: @escaping (IdempotencyDecision) -> Void) {
        let redisKey = redisKey(key), fingerprint = Self.text(fingerprint), lock = Self.ms(config.inFlightTimeout)
        worker.redisCall(client, until: worker.loop.now + TimeAmount(redis.timeout), { client, reply in
            RedisGovernance.beginIdempotency(client, key: redisKey, fingerprint: fingerprint, lockTTLMs: lock, reply)
        }) { [self] result in
            switch result {
            case .success(.proceed): done(.proceed)
            case .success(.inFlight): done(.conflictInFlight)
            case .success(.mismatch): done(.mismatch)
            case .success(.replay(let bytes)):
                guard let response = Self.decode(bytes) else { return failed(done) }
                done(.replay(response))
            case .failure: failed(done)
            }
        }
    }

    /// Redis failed (or sent a stored entry that does not decode): deny, or run unprotected.
    private func failed(_ done: (IdempotencyDecision) -> Void) {
        errors.wrappingIncrement(ordering: .relaxed)
        done(redis.failureModeDeny ? .tableFull : .proceed)
    }

    func complete(key: String, fingerprint: UInt64, response: IdempotentResponse, now: Duration, worker: Worker,
                  _ done: @escaping (Bool) -> Void) {
        guard let bytes = Self.encode(response) else {
            // A header too long for the format: not stored, the key is released.
            abandon(key: key, fingerprint: fingerprint, worker: worker)
            return done(false)
        }
        RedisGovernance.completeIdempotency(worker.redisClient(client), key: redisKey(key), fingerprint: Self.text(fingerprint),
                                            response: bytes, ttlMs: Self.ms(config.ttl)) { [errors] result in
            if case .failure = result { errors.wrappingIncrement(ordering: .relaxed) }
            done((try? result.get()) ?? false)
        }
    }

    func abandon(key: String, fingerprint: UInt64, worker: Worker) {
        RedisGovernance.abandonIdempotency(worker.redisClient(client), key: redisKey(key)) { _ in }
    }

    func stateFields() -> String {
        "\"store\":\"redis\",\"redis\":\(JSON.quote("\(redis.host):\(redis.port)")),\"errors\":\(errors.load(ordering: .relaxed))"
    }

    // MARK: wire format of a stored response

    /// status (u16), header count (u16), then each name and value as u16 length + bytes, then
    /// the body; nil when a header does not fit those lengths.
    static func encode(_ r: IdempotentResponse) -> ByteBuffer? {
        guard r.headers.count <= Int(UInt16.max),
              r.headers.allSatisfy({ $0.name.utf8.count <= Int(UInt16.max) && $0.value.utf8.count <= Int(UInt16.max) }) else { return nil }
        var out = ByteBuffer()
        out.reserveCapacity(r.size + 8)
        out.writeInteger(UInt16(r.status))
        out.writeInteger(UInt16(r.headers.count))
        for (name, value) in r.headers {
            out.writeInteger(UInt16(name.utf8.count))
            out.writeString(name)
            out.writeInteger(UInt16(value.utf8.count))
            out.writeString(value)
        }
        var body = r.body
        out.writeBuffer(&body)
        return out
    }

    /// nil for bytes that are not a stored response (never trusted to be well formed).
    static func decode(_ bytes: ByteBuffer) -> IdempotentResponse? {
        var b = bytes
        guard let status = b.readInteger(as: UInt16.self), (100...599).contains(status),
              let count = b.readInteger(as: UInt16.self) else { return nil }
        var headers = HeaderMap()
        for _ in 0..<count {
            guard let nameLength = b.readInteger(as: UInt16.self), let name = b.readString(length: Int(nameLength)),
                  let valueLength = b.readInteger(as: UInt16.self), let value = b.readString(length: Int(valueLength)) else { return nil }
            headers.addLowercased(name, value)
        }
        return IdempotentResponse(status: Int(status), headers: headers, body: b)
    }
}
