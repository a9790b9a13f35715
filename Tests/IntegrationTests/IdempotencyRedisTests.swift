import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.idempotency` with `redis`: two Ferry instances share their keys through
/// a real redis-server, and an unreachable Redis fails open or, with failure_mode_deny, closed.
@Suite("Idempotency filter, Redis store")
struct IdempotencyRedisTests {
    static func redisFields(_ port: Int, deny: Bool = false) -> String {
        ", redis: {host: 127.0.0.1, port: \(port), timeout: 0.5s, failure_mode_deny: \(deny)}"
    }

    @Test("a POST run through one instance is replayed by the other; another body with the key gets 422 there; the upstream saw it once")
    func sharedAcrossInstances() async throws {
        try await RedisServer.with { redis in
            try await ProxyHarness.with(upstreams: ["backend"], yaml: { IdempotencyTests.config($0, Self.redisFields(redis.port)) }) { a, echoes in
                try await ProxyHarness.with(yaml: { _ in IdempotencyTests.config([echoes[0].port], Self.redisFields(redis.port)) }) { b, _ in
                    let first = try await IdempotencyTests.send(a, "/orders", key: "order-1")
                    #expect(first.status == 200 && first.header("idempotent-replayed") == nil)
                    let replay = try await IdempotencyTests.send(b, "/orders", key: "order-1")
                    #expect(replay.status == 200 && replay.header("idempotent-replayed") == "true")
                    #expect(replay.body == first.body)
                    let other = try await IdempotencyTests.send(b, "/orders", key: "order-1", body: "{\"amount\": 99}")
                    #expect(other.status == 422)
                    let total = await IdempotencyTests.upstreamRequests(a) + IdempotencyTests.upstreamRequests(b)
                    #expect(total == 1)
                    #expect(await b.localStat("orders.idempotency.replayed") == 1)
                }
            }
        }
    }

    @Test("with Redis stopped, keyed requests run unprotected by default and get 503 with failure_mode_deny")
    func redisDown() async throws {
        try await RedisServer.with { redis in
            try await ProxyHarness.with(upstreams: ["backend"], yaml: { IdempotencyTests.config($0, Self.redisFields(redis.port)) }) { open, echoes in
                try await ProxyHarness.with(yaml: { _ in IdempotencyTests.config([echoes[0].port], Self.redisFields(redis.port, deny: true)) }) { closed, _ in
                    // Both instances connect to Redis first.
                    #expect(try await IdempotencyTests.send(open, "/a", key: "k-open").status == 200)
                    #expect(try await IdempotencyTests.send(closed, "/b", key: "k-closed").status == 200)
                    await redis.stop()
                    #expect(try await IdempotencyTests.send(open, "/c", key: "k-2").status == 200)
                    #expect(try await IdempotencyTests.send(closed, "/d", key: "k-3").status == 503)
                    let live = try await Curl.fetch("http://127.0.0.1:\(open.adminPort)/governance").body
                    #expect(live.contains("\"store\":\"redis\""))
                }
            }
        }
    }
}
