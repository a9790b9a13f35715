import FerryTestKit
import Testing

/// Where retries stop: per-try timeouts, the route timeout over all tries, the cluster's
/// concurrent-retry budget (circuit_breakers max_retries, 3 by default), and how the access
/// log reports it.
///
/// Checked against the real Envoy 1.40: two 500 ms tries under per_try_timeout 0.2s gave 504
/// "upstream request timeout" with flags "URX,UT" and details upstream_per_try_timeout
/// (upstream_rq_per_try_timeout 2); a slow try then a fast one gave 200; with three requests
/// in their retry, a fourth retriable 503 was forwarded with flag UO and
/// upstream_rq_retry_overflow 1; a 503 carrying x-envoy-ratelimited was not retried under 5xx;
/// Envoy writes flags in the order they were set ("URX,UF", "URX,UT").
@Suite("Retries: limits, per-try timeouts and overflow")
struct RetryLimitTests {
    // The slow tries take 3 s against a 0.5 s per-try timeout and the fast retry answers after
    // 50 ms: wide margins, so that a loaded machine cannot turn one outcome into the other.
    @Test(
        "per_try_timeout: a slow first try is abandoned and the retry answers; per-try timeout counted")
    func perTryTimeoutRetried() async throws {
        try await FlakyUpstream.with([
            .after(.seconds(3), .respond(200, body: "late")), .after(.milliseconds(50), .respond(200, body: "fast")),
        ]) {
            (upstream) async throws in
            let policy = "retry_on: 5xx, per_try_timeout: 0.5s"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy, fields: "timeout: 5s")) { (proxy, log) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 200)
                #expect(response.body == "fast")
                #expect(upstream.requestCount == 2)
                #expect(upstream.requests.first?.header("x-envoy-expected-rq-timeout-ms") == "500")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_per_try_timeout") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 1)
                #expect(await log.waitForLines(1) == ["200 - via_upstream 2"])
            }
        }
    }

    @Test("per_try_timeout on every try: 504 'upstream request timeout', flags UT and URX")
    func perTryTimeoutExhausted() async throws {
        try await FlakyUpstream.with([.after(.seconds(3), .respond(200))]) { (upstream) async throws in
            let policy = "retry_on: 5xx, num_retries: 1, per_try_timeout: 0.5s"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy, fields: "timeout: 5s")) { (proxy, log) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 504)
                #expect(response.body == "upstream request timeout")
                #expect(upstream.requestCount == 2)
                let entry = await RetryRig.entry(log)
                #expect(entry?.flags == ["UT", "URX"])
                #expect(entry?.details == "upstream_per_try_timeout")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_per_try_timeout") == 2)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_limit_exceeded") == 1)
            }
        }
    }

    @Test("a per-try timeout is not retried when retry_on has no condition for it (retriable-4xx)")
    func perTryTimeoutNotRetriable() async throws {
        try await FlakyUpstream.with([.after(.seconds(3), .respond(200)), .respond(200)]) { (upstream) async throws in
            let policy = "retry_on: retriable-4xx, per_try_timeout: 0.5s"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy)) { (proxy, log) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 504)
                #expect(upstream.requestCount == 1)
                #expect(await log.waitForLines(1) == ["504 UT upstream_per_try_timeout 1"])
            }
        }
    }

    // Checked against Envoy 1.40: 504 "UT response_timeout" after 3 tries and 0.5 s.
    @Test(
        "the route timeout spans all tries: per-try 0.4 s, timeout 1 s, many retries ends in 504 UT")
    func routeTimeoutOverRetries() async throws {
        try await FlakyUpstream.with([.after(.seconds(10), .respond(200))]) { (upstream) async throws in
            let policy = "retry_on: 5xx, num_retries: 10, per_try_timeout: 0.4s"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy, fields: "timeout: 1s")) { (proxy, log) async throws in
                let started = ContinuousClock.now
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 504)
                #expect(ContinuousClock.now - started < .seconds(5))
                #expect((2...3).contains(upstream.requestCount), "\(upstream.requestCount) tries")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_timeout") == 1)
                let entry = await RetryRig.entry(log)
                #expect(entry?.flags == ["UT"])
                #expect(entry?.details == "response_timeout")
            }
        }
    }

    @Test(
        "flags are written in the order Envoy sets them: URX before UF and UT")
    func flagOrder() async throws {
        let refused = try FreePort.dead()
        let cluster = TestConfig.cluster("refused", endpoints: [.init(port: refused)])
        let routes = RetryRig.retry("retry_on: connect-failure", cluster: "refused")
        try await RetryRig.run([], routes: routes, extraClusters: cluster) { (proxy, log) async throws in
            _ = try await Curl.fetch(proxy.url("/"))
            let line = await log.waitForLines(1).first ?? ""
            #expect(line.hasPrefix("503 URX,UF "), "\(line)")
        }
    }

    @Test(
        "a 503 carrying x-envoy-ratelimited is forwarded without a retry under retry_on 5xx")
    func rateLimitedNotRetried() async throws {
        try await FlakyUpstream.with([.respond(503, headers: ["x-envoy-ratelimited": "true"]), .respond(200)]) {
            (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                #expect(upstream.requestCount == 1)
            }
        }
    }

    /// Three requests whose retries hang for a while hold the cluster's three retry slots; then
    /// a fourth retriable failure runs into the budget. First attempts fail, retries answer
    /// after 1.5 s (told apart by x-envoy-attempt-count, since arrival order is racy).
    static func withRetriesInFlight(
        _ body: (ProxyHarness, AccessLogFile, FlakyUpstream) async throws -> Void
    ) async throws {
        let upstream = try await FlakyUpstream.start { request in
            request.header("x-envoy-attempt-count") == "1" ? .respond(503) : .after(.milliseconds(1500), .respond(200))
        }
        do {
            try await RetryRig.run(
                [upstream], routes: RetryRig.retry("retry_on: 5xx"), virtualHostExtra: "include_request_attempt_count: true"
            ) { (proxy, log) async throws in
                try await body(proxy, log, upstream)
            }
            await upstream.stop()
        } catch {
            await upstream.stop()
            throw error
        }
    }

    static func retriesInFlight(_ upstream: FlakyUpstream) -> Int {
        upstream.headerValues("x-envoy-attempt-count").filter { $0 == "2" }.count
    }

    @Test("max_retries (default 3): a fourth concurrent retry overflows, its 503 is forwarded")
    func retryOverflow() async throws {
        try await Self.withRetriesInFlight { (proxy, log, upstream) async throws in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await Curl.fetch(proxy.url("/")).status } }
                #expect(await upstream.wait { Self.retriesInFlight($0) == 3 })
                let fourth = try await Curl.fetch(proxy.url("/"))
                #expect(fourth.status == 503)
                #expect(fourth.header("x-upstream-request") != nil, "the upstream's own 503")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_overflow") == 1)
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                #expect(statuses == [200, 200, 200])
            }
            #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 3)
        }
    }

    @Test(
        "a retry refused by max_retries sets flag UO as Envoy does")
    func retryOverflowFlag() async throws {
        try await Self.withRetriesInFlight { (proxy, log, upstream) async throws in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<3 { group.addTask { try await Curl.fetch(proxy.url("/")).status } }
                #expect(await upstream.wait { Self.retriesInFlight($0) == 3 })
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                #expect(await log.waitForLines(1).first == "503 UO via_upstream 1")
                for try await _ in group {}
            }
        }
    }
}
