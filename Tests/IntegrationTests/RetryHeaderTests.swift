import FerryTestKit
import Testing

/// Envoy's retry and timeout request headers (x-envoy-retry-on, x-envoy-max-retries,
/// x-envoy-upstream-rq-timeout-ms, x-envoy-upstream-rq-per-try-timeout-ms) are honoured only
/// from internal clients: in Envoy 1.40 a request is internal when its address lies in
/// `internal_address_config` (empty by default) and, with use_remote_address, it arrived
/// without x-forwarded-for. From everyone else they are removed and ignored.
///
/// Checked against the real Envoy 1.40: without internal_address_config, x-envoy-retry-on: 5xx
/// did not retry, x-envoy-max-retries: 0 did not stop two retries, and
/// x-envoy-upstream-rq-timeout-ms: 100 did not cut a 500 ms upstream; with 127.0.0.0/8 internal
/// all three were honoured, except when the request carried x-forwarded-for: 10.0.0.1.
/// x-envoy-upstream-rq-per-try-timeout-ms: 100 from an internal client gave 504 on a route
/// without retry_policy.
@Suite("Retries: trusted request headers")
struct RetryHeaderTests {
    static let slow: [FlakyUpstream.Action] = [.after(.milliseconds(500), .respond(200))]

    @Test("from an edge client x-envoy-retry-on is ignored and not forwarded")
    func retryOnIgnoredFromEdge() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route()) { (proxy, _) async throws in
                let response = try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-retry-on": "5xx"])
                #expect(response.status == 503)
                #expect(upstream.requestCount == 1)
                #expect(upstream.requests.first?.header("x-envoy-retry-on") == nil)
            }
        }
    }

    @Test("from an internal client x-envoy-retry-on turns retries on for a route without retry_policy")
    func retryOnFromInternal() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: RetryRig.loopbackInternal) { (proxy, _) async throws in
                let response = try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-retry-on": "5xx"])
                #expect(response.status == 200)
                #expect(upstream.requestCount == 2)
                #expect(upstream.requests.allSatisfy { $0.header("x-envoy-retry-on") == nil })
            }
        }
    }

    @Test("an internal-range client that sends x-forwarded-for is not internal: x-envoy-retry-on is ignored")
    func retryOnWithForwardedFor() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: RetryRig.loopbackInternal) { (proxy, _) async throws in
                let headers = ["x-envoy-retry-on": "5xx", "x-forwarded-for": "10.0.0.1"]
                #expect(try await Curl.fetch(proxy.url("/"), headers: headers).status == 503)
                #expect(upstream.requestCount == 1)
            }
        }
    }

    @Test("x-envoy-max-retries: ignored from an edge client, obeyed from an internal one")
    func maxRetries() async throws {
        let script: [FlakyUpstream.Action] = [.respond(503), .respond(503), .respond(200)]
        try await FlakyUpstream.withEach([script, script]) { (ups) async throws in
            let policy = "retry_on: 5xx, num_retries: 2"
            let routes = RetryRig.retry(policy, prefix: "/", cluster: "edge")
            let clusters = TestConfig.cluster("edge", endpoints: [.init(port: ups[0].port)])
            try await RetryRig.run([], routes: routes, extraClusters: clusters) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-max-retries": "0"]).status == 200)
                #expect(ups[0].requestCount == 3)
            }
            let internalClusters = TestConfig.cluster("edge", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, hcmExtra: RetryRig.loopbackInternal, extraClusters: internalClusters) {
                (proxy, log) async throws in
                #expect(try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-max-retries": "0"]).status == 503)
                #expect(ups[1].requestCount == 1)
                // Envoy: a retriable response with no retries allowed is a retry limit exceeded.
                #expect(await RetryRig.entry(log)?.flags == ["URX"])
            }
        }
    }

    @Test("x-envoy-upstream-rq-timeout-ms: ignored from an edge client, a 504 UT from an internal one")
    func routeTimeoutHeader() async throws {
        try await FlakyUpstream.withEach([Self.slow, Self.slow]) { (ups) async throws in
            let routes = RetryRig.route("/", cluster: "slow")
            let edge = TestConfig.cluster("slow", endpoints: [.init(port: ups[0].port)])
            try await RetryRig.run([], routes: routes, extraClusters: edge) { (proxy, _) async throws in
                let response = try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-upstream-rq-timeout-ms": "100"])
                #expect(response.status == 200)
                #expect(ups[0].requests.first?.header("x-envoy-upstream-rq-timeout-ms") == nil)
                #expect(ups[0].requests.first?.header("x-envoy-expected-rq-timeout-ms") == "15000")
            }
            let trusted = TestConfig.cluster("slow", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, hcmExtra: RetryRig.loopbackInternal, extraClusters: trusted) {
                (proxy, log) async throws in
                let response = try await Curl.fetch(proxy.url("/"), headers: ["x-envoy-upstream-rq-timeout-ms": "100"])
                #expect(response.status == 504)
                #expect(response.body == "upstream request timeout")
                #expect(ups[1].requests.first?.header("x-envoy-expected-rq-timeout-ms") == "100")
                #expect(await log.waitForLines(1) == ["504 UT response_timeout 1"])
            }
        }
    }

    @Test("x-envoy-upstream-rq-per-try-timeout-ms from an internal client bounds each try of a retried route")
    func perTryHeaderWithPolicy() async throws {
        try await FlakyUpstream.with(Self.slow) { (upstream) async throws in
            try await RetryRig.run(
                [upstream], routes: RetryRig.retry("retry_on: 5xx"), hcmExtra: RetryRig.loopbackInternal
            ) { (proxy, log) async throws in
                let response = try await Curl.fetch(
                    proxy.url("/"), headers: ["x-envoy-upstream-rq-per-try-timeout-ms": "100"])
                // Without the header the slow upstream would answer 200 after 500 ms.
                #expect(response.status == 504)
                #expect(response.body == "upstream request timeout")
                #expect(upstream.requestCount == 2)
                #expect(upstream.requests.first?.header("x-envoy-expected-rq-timeout-ms") == "100")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_per_try_timeout") == 2)
                #expect(await RetryRig.entry(log)?.flags == ["UT", "URX"])
            }
        }
    }

    @Test("x-envoy-upstream-rq-per-try-timeout-ms from an edge client is ignored")
    func perTryHeaderFromEdge() async throws {
        try await FlakyUpstream.with([.after(.milliseconds(300), .respond(200, body: "slow"))]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, _) async throws in
                let response = try await Curl.fetch(
                    proxy.url("/"), headers: ["x-envoy-upstream-rq-per-try-timeout-ms": "100"])
                #expect(response.body == "slow")
                #expect(upstream.requestCount == 1)
            }
        }
    }

    @Test(
        "x-envoy-upstream-rq-per-try-timeout-ms from an internal client applies on a route without retry_policy")
    func perTryHeaderWithoutPolicy() async throws {
        try await FlakyUpstream.with(Self.slow) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: RetryRig.loopbackInternal) {
                (proxy, _) async throws in
                let response = try await Curl.fetch(
                    proxy.url("/"), headers: ["x-envoy-upstream-rq-per-try-timeout-ms": "100"])
                #expect(response.status == 504)
                #expect(response.body == "upstream request timeout")
            }
        }
    }
}
