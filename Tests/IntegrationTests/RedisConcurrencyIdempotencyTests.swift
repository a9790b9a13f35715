import FerryProxy
import FerryTestKit
import NIOCore
import Testing

/// In-flight limits (leases with a TTL) and idempotency keys against a real redis-server.
@Suite("Redis concurrency and idempotency")
struct RedisConcurrencyIdempotencyTests {
    static let slow = TimeAmount.seconds(5)

    static func acquire(
        _ client: RedisTestClient, _ lease: String, limit: Int = 2, ttlMs: Int = 60_000, key: String = "cc"
    )
        async throws -> RedisGovernance.ConcurrencyDecision
    {
        try await client.decide { redis, done in
            RedisGovernance.acquireConcurrency(
                redis, key: key, leaseID: lease, limit: limit, leaseTTLMs: ttlMs, timeout: Self.slow, done)
        }.get()
    }

    static func release(_ client: RedisTestClient, _ lease: String, key: String = "cc") async throws -> Bool {
        try await client.decide { redis, done in
            RedisGovernance.releaseConcurrency(redis, key: key, leaseID: lease, timeout: Self.slow, done)
        }.get()
    }

    @Test("concurrency: leases up to the limit; renewing a held lease takes no slot; a release frees one")
    func concurrency() async throws {
        try await withRedis { client throws in
            #expect(try await Self.acquire(client, "a") == .init(acquired: true, inFlight: 1, retryAfterMs: nil))
            #expect(try await Self.acquire(client, "b") == .init(acquired: true, inFlight: 2, retryAfterMs: nil))
            let full = try await Self.acquire(client, "c")
            #expect(!full.acquired)
            #expect(full.inFlight == 2)
            #expect((1...60_000).contains(full.retryAfterMs ?? -1))
            #expect(try await Self.acquire(client, "a").acquired)  // renewal
            #expect(try await Self.release(client, "a"))
            #expect(try await !Self.release(client, "a"))
            #expect(try await Self.acquire(client, "c") == .init(acquired: true, inFlight: 2, retryAfterMs: nil))
        }
    }

    @Test("concurrency: a lease nobody releases expires after its TTL and frees its slot")
    func concurrencyLeaseExpires() async throws {
        try await withRedis { client throws in
            #expect(try await Self.acquire(client, "crashed", limit: 1, ttlMs: 500).acquired)
            let blocked = try await Self.acquire(client, "next", limit: 1, ttlMs: 500)
            #expect(!blocked.acquired)
            let wait = try #require(blocked.retryAfterMs)
            #expect((1...500).contains(wait))
            try await Task.sleep(for: .milliseconds(wait + 5))
            #expect(try await Self.acquire(client, "next", limit: 1, ttlMs: 500).acquired)
            #expect(try await !Self.release(client, "crashed"))
        }
    }

    @Test("concurrency: two clients on two event loops hold exactly the limit together")
    func concurrencyShared() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            func grab(_ client: RedisTestClient, _ prefix: String) async -> [Result<
                RedisGovernance.ConcurrencyDecision, RedisError
            >] {
                await client.call { redis, done in
                    var results: [Result<RedisGovernance.ConcurrencyDecision, RedisError>] = []
                    for n in 0..<10 {
                        RedisGovernance.acquireConcurrency(
                            redis, key: "shared", leaseID: "\(prefix)\(n)", limit: 5, leaseTTLMs: 60_000,
                            timeout: Self.slow
                        ) { result in
                            results.append(result)
                            if results.count == 10 { done(results) }
                        }
                    }
                }
            }
            async let fromA = grab(a, "a")
            async let fromB = grab(b, "b")
            let all = await fromA + fromB
            #expect(all.allSatisfy { (try? $0.get()) != nil })
            #expect(all.filter { (try? $0.get())?.acquired == true }.count == 5)
            #expect(try await a.expectValue(["ZCARD", "shared"]) == .integer(5))
        }
    }

    static func begin(_ client: RedisTestClient, _ fingerprint: String, lockTTLMs: Int = 60_000, key: String = "idem")
        async throws -> RedisGovernance.IdempotencyBegin
    {
        try await client.decide { redis, done in
            RedisGovernance.beginIdempotency(
                redis, key: key, fingerprint: fingerprint, lockTTLMs: lockTTLMs, timeout: Self.slow, done)
        }.get()
    }

    static func complete(_ client: RedisTestClient, _ fingerprint: String, _ response: ByteBuffer) async throws -> Bool
    {
        try await client.decide { redis, done in
            RedisGovernance.completeIdempotency(
                redis, key: "idem", fingerprint: fingerprint, response: response, ttlMs: 60_000, timeout: Self.slow,
                done)
        }.get()
    }

    static func abandon(_ client: RedisTestClient, key: String = "idem") async throws -> Bool {
        try await client.decide { redis, done in
            RedisGovernance.abandonIdempotency(redis, key: key, timeout: Self.slow, done)
        }.get()
    }

    @Test(
        "idempotency: proceed, then in-flight; another fingerprint is a mismatch; once complete, the exact bytes replay"
    )
    func idempotency() async throws {
        try await withRedis { client throws in
            var response = ByteBuffer(string: "HTTP/1.1 201 Created\r\ncontent-length: 3\r\n\r\n")
            response.writeBytes([0, 0xFF, 0x0D])
            response.writeRepeatingByte(UInt8(ascii: "x"), count: 100_000)
            #expect(try await Self.begin(client, "fp1") == .proceed)
            #expect(try await Self.begin(client, "fp1") == .inFlight)
            #expect(try await Self.begin(client, "fp2") == .mismatch)
            #expect(try await !Self.complete(client, "fp2", response))  // not its claim
            #expect(try await Self.complete(client, "fp1", response))
            #expect(try await Self.begin(client, "fp1") == .replay(response))
            #expect(try await Self.begin(client, "fp2") == .mismatch)
            #expect(try await !Self.abandon(client))  // a completed entry stays
            #expect(try await Self.begin(client, "fp1") == .replay(response))
            #expect(try await !Self.complete(client, "fp1", ByteBuffer(string: "other")))  // done is final
            #expect(try await Self.begin(client, "fp1") == .replay(response))
        }
    }

    @Test("idempotency: an abandoned claim or an expired lock lets the next request proceed")
    func idempotencyAbandonAndExpiry() async throws {
        try await withRedis { client throws in
            #expect(try await Self.begin(client, "fp") == .proceed)
            #expect(try await Self.abandon(client))
            #expect(try await Self.begin(client, "fp") == .proceed)

            #expect(try await Self.begin(client, "fp", lockTTLMs: 500, key: "short") == .proceed)
            #expect(try await Self.begin(client, "fp", lockTTLMs: 500, key: "short") == .inFlight)
            try await Task.sleep(for: .milliseconds(600))
            #expect(try await Self.begin(client, "fp", lockTTLMs: 500, key: "short") == .proceed)
        }
    }

    @Test("idempotency: of 20 racing requests on two event loops, exactly one proceeds")
    func idempotencyRace() async throws {
        try await withRedisOnTwoLoops { a, b throws in
            let begin: Decide<RedisGovernance.IdempotencyBegin> = { redis, done in
                RedisGovernance.beginIdempotency(
                    redis, key: "race", fingerprint: "fp", lockTTLMs: 60_000, timeout: Self.slow, done)
            }
            async let fromA = a.burst(10, begin)
            async let fromB = b.burst(10, begin)
            let all = try await (fromA + fromB).map { try $0.get() }
            #expect(all.filter { $0 == .proceed }.count == 1)
            #expect(all.filter { $0 == .inFlight }.count == 19)
        }
    }
}
