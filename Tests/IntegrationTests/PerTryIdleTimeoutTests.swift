import FerryTestKit
import Testing

/// `retry_policy.per_try_idle_timeout`: an attempt that sees no upstream traffic for that long
/// fails like a per-try timeout (504 "upstream request timeout", UT), is retried on the same
/// conditions, and counts in `upstream_rq_per_try_idle_timeout`.
@Suite("per_try_idle_timeout")
struct PerTryIdleTimeoutTests {
    static func run(_ retryPolicy: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "backend", extra: "retry_policy: \(retryPolicy)"),
                clusters: [("backend", [ports[0]])])
        }) { proxy, _ in
            try await body(proxy)
        }
    }

    @Test("a silent upstream fails each attempt after the idle time; the retry is counted")
    func silentUpstream() async throws {
        try await Self.run("{retry_on: reset, num_retries: 1, per_try_idle_timeout: 0.2s}") { proxy in
            let started = ContinuousClock.now
            let r = try await Curl.fetch(proxy.url("/delay/3000"))
            #expect(r.status == 504)
            #expect(r.body == "upstream request timeout")
            // Two idle attempts of 0.2 s (plus backoff), well before the upstream's 3 s.
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(try await proxy.stat("cluster.backend.upstream_rq_per_try_idle_timeout") == 2)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_retry") == 1)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_504") == 1)
        }
    }

    @Test("an upstream that answers within the idle time is unaffected")
    func answerWithinIdleTime() async throws {
        try await Self.run("{retry_on: reset, num_retries: 1, per_try_idle_timeout: 0.5s}") { proxy in
            let r = try await Curl.fetch(proxy.url("/delay/200"))
            #expect(r.status == 200)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_per_try_idle_timeout") == 0)
        }
    }
}
