import FerryTestKit
import Foundation
import Testing

/// The fallback's triggers besides circuit-open, 5xx and connect-failure, each through the real
/// proxy: a route timeout (UT), an upstream that closes before answering (UC), a rate limit
/// filter's 429 (RL) and a cluster overflow (UO). Each trigger is also shown not to fire when
/// it is not listed.
@Suite("Fallback triggers")
struct FallbackTriggerTests {
    typealias S = BreakerSupport

    static let staticAction = "{static: {status: 200, body: degraded}}"

    /// One GET through a proxy whose single route goes to `upstream` with `routeExtra`, and the
    /// fallback (listed first) answering for `on`; `more` adds filters after it.
    static func fetch(upstream: Int, on: String, routeExtra: String = "", more: String = "", clusterExtra: String = "",
                      requests: Int = 1) async throws -> (replies: [Curl.Result], fallbackStatic: Int?) {
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary", extra: routeExtra),
                                 clusters: [("primary", [upstream])], clusterExtra: clusterExtra,
                                 httpFilters: S.fallback("on: [\(on)], actions: [\(Self.staticAction)]") + more)
        }) { (proxy, _) async throws in
            var replies: [Curl.Result] = []
            for _ in 0..<requests { replies.append(try await Curl.fetch(proxy.url("/"))) }
            let count = try await proxy.stat("api.fallback.static")
            return (replies, count)
        }
    }

    @Test("a route timeout (UT) is answered by the fallback listed for timeout, and is a 504 otherwise")
    func timeout() async throws {
        try await FaultyUpstream.with({ _ in .silence }) { upstream in
            let answered = try await Self.fetch(upstream: upstream.port, on: "timeout", routeExtra: "timeout: 0.3s")
            #expect(answered.replies[0].status == 200 && answered.replies[0].body == "degraded")
            #expect(answered.replies[0].header("x-ferry-fallback") == "static")
            #expect(answered.fallbackStatic == 1)
            let passed = try await Self.fetch(upstream: upstream.port, on: "reset", routeExtra: "timeout: 0.3s")
            #expect(passed.replies[0].status == 504 && passed.replies[0].header("x-ferry-fallback") == nil)
            #expect(passed.fallbackStatic == 0)
        }
    }

    @Test("an upstream that closes before answering (UC) is answered by the fallback listed for reset, and is a 503 otherwise")
    func reset() async throws {
        try await FaultyUpstream.with({ _ in .respondThenClose("") }) { upstream in
            let answered = try await Self.fetch(upstream: upstream.port, on: "reset")
            #expect(answered.replies[0].status == 200 && answered.replies[0].body == "degraded")
            #expect(answered.fallbackStatic == 1)
            let passed = try await Self.fetch(upstream: upstream.port, on: "timeout")
            #expect(passed.replies[0].status == 503 && passed.replies[0].header("x-ferry-fallback") == nil)
        }
    }

    @Test("a later local_ratelimit's 429 is answered by the fallback listed for rate-limited; the first request is served")
    func rateLimited() async throws {
        let limiter = LocalRateLimitTests.filter(maxTokens: 1, perFill: 1, interval: "60s")
        try await FaultyUpstream.with({ _ in .respond("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nup") }) { upstream in
            let answered = try await Self.fetch(upstream: upstream.port, on: "rate-limited", more: limiter + "\n", requests: 2)
            #expect(answered.replies[0].status == 200 && answered.replies[0].body == "up")
            #expect(answered.replies[1].status == 200 && answered.replies[1].body == "degraded")
            #expect(answered.replies[1].header("x-ferry-fallback") == "static")
            #expect(answered.fallbackStatic == 1)
            let passed = try await Self.fetch(upstream: upstream.port, on: "timeout", more: limiter + "\n", requests: 2)
            #expect(passed.replies[1].status == 429 && passed.replies[1].header("x-ferry-fallback") == nil)
        }
    }

    @Test("a cluster overflow (UO, max_requests) is answered by the fallback listed for overflow, and is a 503 otherwise")
    func overflow() async throws {
        let upstream = try await FlakyUpstream.start([.after(.seconds(2), .status(200))])
        try await withCleanup {
            for (on, expected) in [("overflow", 200), ("timeout", 503)] {
                try await ProxyHarness.with(yaml: { _ in
                    TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"), clusters: [("primary", [upstream.port])],
                                         clusterExtra: "circuit_breakers: {thresholds: [{max_requests: 1}]}",
                                         httpFilters: S.fallback("on: [\(on)], actions: [\(Self.staticAction)]"))
                }) { (proxy, _) async throws in
                    let holder = Task { try await Curl.fetch(proxy.url("/held")) }
                    let held = await Support.eventually { await proxy.localStat("cluster.primary.upstream_rq_active") == 1 }
                    #expect(held)
                    let second = try await Curl.fetch(proxy.url("/second"))
                    #expect(second.status == expected, "on: \(on): \(second.status) \(second.body)")
                    #expect((second.header("x-ferry-fallback") == "static") == (on == "overflow"))
                    #expect(try await holder.value.status == 200)
                }
            }
        } cleanup: {
            await upstream.stop()
        }
    }
}
