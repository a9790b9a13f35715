import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.circuit_breaker` through the real proxy: tripping on failures and slow
/// calls, rejecting without upstream traffic, half-opening and closing or reopening, shadow
/// mode, per-route overrides, cluster scope and the live state in /governance.
@Suite("Circuit breaker filter")
struct CircuitBreakerFilterTests {
    typealias S = BreakerSupport

    static func config(_ port: Int, filters: String, routes: String? = nil) -> String {
        TestConfig.bootstrap(routes: routes ?? Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [port])],
                             httpFilters: filters)
    }

    /// Runs `body` with a proxy in front of an upstream answering 200 while `health` says so, else 500.
    static func withFlaky(_ health: S.Health, filters: String, routes: String? = nil,
                          _ body: (ProxyHarness, FlakyUpstream) async throws -> Void) async throws {
        let upstream = try await FlakyUpstream.start { _ in health.isHealthy ? .respond(200, body: "ok") : .respond(500, body: "bad") }
        try await withCleanup {
            try await ProxyHarness.with(yaml: { _ in config(upstream.port, filters: filters, routes: routes) }) { (proxy, _) async throws in
                try await body(proxy, upstream)
            }
        } cleanup: {
            await upstream.stop()
        }
    }

    @Test("failures open the breaker; while open it answers 503 without upstream traffic; after the wait the probes close it")
    func tripRejectRecover() async throws {
        let health = S.Health(false)
        // 3 s in open: time to read the open state on a loaded machine.
        try await Self.withFlaky(health, filters: S.breaker(S.trippingFields(wait: "3s"))) { (proxy, upstream) async throws in
            for _ in 0..<4 { #expect(try await Curl.fetch(proxy.url("/")).status == 500) }
            let rejected = try await Curl.fetch(proxy.url("/"))
            #expect(rejected.status == 503)
            #expect(rejected.body == "circuit breaker is open")
            #expect(rejected.header("x-ferry-circuit-breaker") == "open")
            #expect(rejected.header("retry-after").flatMap { Int($0) }.map { (1...3).contains($0) } == true)
            #expect(upstream.requests.count == 4)
            #expect(try await proxy.stat("api.circuit_breaker.failures") == 4)
            #expect(try await proxy.stat("api.circuit_breaker.opened") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.calls_rejected") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.state") == 1)
            let state = try #require(try await S.governanceState(admin: proxy.adminPort, keySuffix: "circuit_breaker"))
            #expect(state["state"] as? String == "open")
            let breaker = try #require((state["breakers"] as? [[String: Any]])?.first)
            #expect(breaker["key"] as? String == "all/0" && breaker["failures"] as? Int == 4)
            #expect(breaker["failure_rate"] as? Double == 100 && (breaker["retry_after_ms"] as? Int ?? 0) > 0)

            health.isHealthy = true
            // Rejected until the wait is over; then the first probe reaches the healed upstream.
            #expect(try await Support.eventually { try await Curl.fetch(proxy.url("/")).status == 200 })
            #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            #expect(try await proxy.stat("api.circuit_breaker.half_opened") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.closed") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.state") == 0)
            let closed = try #require(try await S.governanceState(admin: proxy.adminPort, keySuffix: "circuit_breaker"))
            #expect(closed["state"] as? String == "closed")
        }
    }

    @Test("a failing probe opens the breaker again")
    func reopenOnFailedProbe() async throws {
        let health = S.Health(false)
        try await Self.withFlaky(health, filters: S.breaker(S.trippingFields(probes: 1))) { (proxy, upstream) async throws in
            for _ in 0..<4 { _ = try await Curl.fetch(proxy.url("/")) }
            #expect(try await Curl.fetch(proxy.url("/")).status == 503)
            // The probe gets the upstream's 500 ...
            #expect(try await Support.eventually { try await Curl.fetch(proxy.url("/")).status == 500 })
            #expect(upstream.requests.count == 5)
            // ... and the breaker is open again.
            let again = try await Curl.fetch(proxy.url("/"))
            #expect(again.status == 503 && again.header("x-ferry-circuit-breaker") == "open")
            #expect(try await proxy.stat("api.circuit_breaker.opened") == 2)
            #expect(try await proxy.stat("api.circuit_breaker.half_opened") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.closed") == 0)
        }
    }

    @Test("slow calls open the breaker although every call succeeded")
    func slowCalls() async throws {
        let echo = try await EchoServer.start(name: "slow", delay: .milliseconds(400))
        try await withCleanup {
            let fields = "sliding_window: {size: 2}, minimum_number_of_calls: 2, slow_call_duration_threshold: 0.2s, "
                + "slow_call_rate_threshold: 50, wait_duration_in_open_state: 60s"
            try await ProxyHarness.with(yaml: { _ in Self.config(echo.port, filters: S.breaker(fields)) }) { (proxy, _) async throws in
                for _ in 0..<2 { #expect(try await Curl.fetch(proxy.url("/")).status == 200) }
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                #expect(try await proxy.stat("api.circuit_breaker.slow_calls") == 2)
                #expect(try await proxy.stat("api.circuit_breaker.successes") == 2)
                #expect(try await proxy.stat("api.circuit_breaker.failures") == 0)
            }
        } cleanup: {
            await echo.stop()
        }
    }

    @Test("shadow mode (filter_enforced 0%) counts what it would reject and lets it through")
    func shadowMode() async throws {
        let fields = S.trippingFields(wait: "60s") + ", filter_enforced: {default_value: {numerator: 0}}"
        try await Self.withFlaky(S.Health(false), filters: S.breaker(fields)) { (proxy, upstream) async throws in
            for _ in 0..<7 { #expect(try await Curl.fetch(proxy.url("/")).status == 500) }
            #expect(upstream.requests.count == 7)
            #expect(try await proxy.stat("api.circuit_breaker.shadow_rejected") == 3)
            #expect(try await proxy.stat("api.circuit_breaker.calls_rejected") == 0)
            #expect(try await proxy.stat("api.circuit_breaker.opened") == 1)
        }
    }

    @Test("a route's own breaker trips alone; a route that disables the filter is never rejected")
    func perRoute() async throws {
        let own = "{\"@type\": \(S.breakerType), stat_prefix: own, \(S.trippingFields(wait: "60s"))}"
        let routes = """
            - match: {prefix: "/own"}
              route: {cluster: backend}
              typed_per_filter_config: {ferry.filters.http.circuit_breaker: \(own)}
            - match: {prefix: "/free"}
              route: {cluster: backend}
              typed_per_filter_config:
                ferry.filters.http.circuit_breaker: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
            \(Support.forward("{prefix: \"/\"}", to: "backend"))
            """
        let listener = S.breaker("sliding_window: {size: 100}, minimum_number_of_calls: 100, wait_duration_in_open_state: 60s")
        try await Self.withFlaky(S.Health(false), filters: listener, routes: routes) { (proxy, _) async throws in
            for _ in 0..<4 { #expect(try await Curl.fetch(proxy.url("/own")).status == 500) }
            #expect(try await Curl.fetch(proxy.url("/own")).status == 503)
            for _ in 0..<6 { #expect(try await Curl.fetch(proxy.url("/free")).status == 500) }
            #expect(try await Curl.fetch(proxy.url("/other")).status == 500)
            #expect(try await proxy.stat("own.circuit_breaker.opened") == 1)
            #expect(try await proxy.stat("api.circuit_breaker.failures") == 1)
        }
    }

    @Test("two breakers in one chain each keep their own call: the second (per-stream state of its own) counts every outcome")
    func twoBreakersInOneChain() async throws {
        // The first breaker keeps its calls in the stream; the second, of the same kind, in
        // an object per stream. Both must see each call's outcome.
        let second = "- name: cluster_breaker\n  typed_config: {\"@type\": \(S.breakerType), stat_prefix: second, scope: CLUSTER, "
            + "sliding_window: {size: 100}, minimum_number_of_calls: 100}\n"
        try await Self.withFlaky(S.Health(false), filters: S.breaker(S.trippingFields(wait: "60s")) + second) { (proxy, upstream) async throws in
            for _ in 0..<4 { #expect(try await Curl.fetch(proxy.url("/")).status == 500) }
            #expect(try await Curl.fetch(proxy.url("/")).status == 503)
            #expect(upstream.requests.count == 4)
            #expect(try await proxy.stat("api.circuit_breaker.failures") == 4)
            #expect(try await proxy.stat("api.circuit_breaker.opened") == 1)
            #expect(try await proxy.stat("second.circuit_breaker.calls_permitted") == 4)
            #expect(try await proxy.stat("second.circuit_breaker.failures") == 4)
            #expect(try await proxy.stat("second.circuit_breaker.opened") == 0)
        }
    }

    @Test("scope CLUSTER: two routes to one cluster share its breaker")
    func clusterScope() async throws {
        let routes = Support.forward("{prefix: \"/a\"}", to: "backend") + Support.forward("{prefix: \"/b\"}", to: "backend")
        let fields = "scope: CLUSTER, " + S.trippingFields(wait: "60s")
        try await Self.withFlaky(S.Health(false), filters: S.breaker(fields), routes: routes) { (proxy, upstream) async throws in
            for path in ["/a", "/b", "/a", "/b"] { #expect(try await Curl.fetch(proxy.url(path)).status == 500) }
            #expect(try await Curl.fetch(proxy.url("/b")).status == 503)
            #expect(try await Curl.fetch(proxy.url("/a")).status == 503)
            #expect(upstream.requests.count == 4)
            let state = try #require(try await S.governanceState(admin: proxy.adminPort, keySuffix: "circuit_breaker"))
            #expect((state["breakers"] as? [[String: Any]])?.compactMap { $0["key"] as? String } == ["backend"])
        }
    }
}
