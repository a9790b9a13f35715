import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.rate_limit` with `scope: GLOBAL`: two Ferry processes share one budget
/// through a real redis-server, and `failure_mode_deny` decides when Redis is gone.
@Suite("Rate limit filter, GLOBAL scope")
struct RateLimitGlobalTests {
    static func yaml(redisPort: Int, algorithm: String, deny: Bool = false) -> String {
        TestConfig.bootstrap(routes: RateLimitFilterTests.directRoutes, clusters: [], admin: true, httpFilters: """
            - name: ferry.filters.http.rate_limit
              typed_config:
                "@type": \(RateLimitFilterTests.type)
                stat_prefix: shared
                \(algorithm.replacingOccurrences(of: "\n", with: "\n    "))
                scope: GLOBAL
                redis: {host: 127.0.0.1, port: \(redisPort), timeout: 0.5s, failure_mode_deny: \(deny)}
            """)
    }

    @Test("two ferry processes with the same GLOBAL fixed window admit exactly its limit between them")
    func twoProcessesShareOneBudget() async throws {
        try await RedisServer.with { redis in
            let directory = try TemporaryDirectory.make(prefix: "global-rl")
            defer { try? FileManager.default.removeItem(at: directory) }
            let config = directory.appendingPathComponent("ferry.yaml").path
            try Self.yaml(redisPort: redis.port, algorithm: "algorithm: FIXED_WINDOW\nlimit: 10\nwindow: 60s")
                .write(toFile: config, atomically: true, encoding: .utf8)
            try await FerryBinary.serve(["-c", config, "--concurrency", "2"]) { _, a in
                try await FerryBinary.serve(["-c", config, "--concurrency", "2"]) { _, b in
                    let ports = [try #require(a.listeners["main"]), try #require(b.listeners["main"])]
                    var statuses: [Int] = []
                    for i in 0..<16 {
                        statuses.append(try await Curl.fetch("http://127.0.0.1:\(ports[i % 2])/").status)
                    }
                    #expect(statuses.filter { $0 == 200 }.count == 10, "\(statuses)")
                    #expect(statuses.filter { $0 == 429 }.count == 6, "\(statuses)")
                    #expect(Array(statuses.prefix(10)) == Array(repeating: 200, count: 10))
                }
            }
        }
    }

    @Test("with Redis gone, requests pass by default and get 500 (flag RLSE) with failure_mode_deny; they recover when Redis is back")
    func redisUnreachable() async throws {
        try await RedisServer.with { redis in
            let fields = "algorithm: TOKEN_BUCKET\ntoken_bucket: {max_tokens: 100, tokens_per_fill: 100, fill_interval: 1s}"
            try await ProxyHarness.with(yaml: { _ in Self.yaml(redisPort: redis.port, algorithm: fields) }) { allow, _ in
                try await ProxyHarness.with(yaml: { _ in Self.yaml(redisPort: redis.port, algorithm: fields, deny: true) }) { deny, _ in
                    let up = try await Support.eventually { try await Curl.fetch(deny.url("/")).status == 200 }
                    #expect(up, "never admitted through Redis")
                    await redis.stop()
                    #expect(try await Curl.fetch(allow.url("/")).status == 200)
                    #expect(try await Curl.fetch(deny.url("/")).status == 500)
                    #expect(try await allow.stat("shared.rate_limit.failure_mode_allowed") ?? 0 >= 1)
                    #expect(try await deny.stat("shared.rate_limit.error") ?? 0 >= 1)
                    try await redis.restart()
                    let back = try await Support.eventually { try await Curl.fetch(deny.url("/")).status == 200 }
                    #expect(back, "did not recover when Redis came back")
                }
            }
        }
    }

    @Test("GLOBAL CONCURRENCY: leases in Redis limit requests in flight across processes and are given back")
    func concurrencyLeases() async throws {
        let slow = try await EchoServer.start(name: "slow", delay: .milliseconds(800))
        try await withCleanup {
            try await RedisServer.with { redis in
                let yaml = TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: slow}", clusters: [("slow", [slow.port])],
                                                admin: true, httpFilters: """
                    - name: ferry.filters.http.rate_limit
                      typed_config:
                        "@type": \(RateLimitFilterTests.type)
                        stat_prefix: shared
                        algorithm: CONCURRENCY
                        limit: 2
                        scope: GLOBAL
                        redis: {host: 127.0.0.1, port: \(redis.port), timeout: 0.5s}
                    """)
                try await ProxyHarness.with(yaml: { _ in yaml }) { a, _ in
                    try await ProxyHarness.with(yaml: { _ in yaml }) { b, _ in
                        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                            for i in 0..<4 { group.addTask { try await Curl.fetch((i % 2 == 0 ? a : b).url("/")).status } }
                            return try await group.reduce(into: []) { $0.append($1) }
                        }
                        #expect(statuses.sorted() == [200, 200, 429, 429])
                        // Completed requests gave their leases back.
                        let again = try await Support.eventually { try await Curl.fetch(b.url("/")).status == 200 }
                        #expect(again)
                    }
                }
            }
        } cleanup: {
            await slow.stop()
        }
    }
}
