import FerryTestKit
import Testing

/// `retry_on` conditions end to end: an upstream fails on cue, and the test checks what the
/// client got, what the upstream saw, and the cluster's retry stats.
///
/// Checked against the real Envoy 1.40 with the same routes and a scripted upstream: 503 then
/// 200 under 5xx gives 200 after 2 attempts; gateway-error does not retry a 500 and does retry
/// 502 then 504; reset retries a close but not a 503; retriable-4xx retries 409, not 404;
/// retriable-status-codes [418] and retriable-headers retry; with num_retries exhausted the
/// upstream's own 503 reaches the client with flag URX; a refused connection gives flags URX
/// and UF.
@Suite("Retries: retry_on conditions")
struct RetryConditionTests {
    static func get(_ proxy: ProxyHarness, _ path: String = "/", headers: [String: String] = [:]) async throws
        -> Curl.Result
    {
        try await Curl.fetch(proxy.url(path), headers: headers)
    }

    @Test("5xx: a 503 then a 200 reaches the client as the 200, after two attempts")
    func fiveXXRetried() async throws {
        try await FlakyUpstream.with([.respond(503, body: "first"), .respond(200, body: "second")]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, log) async throws in
                let response = try await Self.get(proxy)
                #expect(response.status == 200)
                #expect(response.body == "second")
                #expect(upstream.requestCount == 2)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_success") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_limit_exceeded") == 0)
                #expect(await log.waitForLines(1) == ["200 - via_upstream 2"])
            }
        }
    }

    @Test("without a retry policy a 503 is forwarded after one attempt")
    func noPolicyNoRetry() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route()) { (proxy, _) async throws in
                #expect(try await Self.get(proxy).status == 503)
                #expect(upstream.requestCount == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 0)
            }
        }
    }

    @Test("gateway-error retries 502 and 504 but forwards a 500 at once")
    func gatewayError() async throws {
        try await FlakyUpstream.withEach([[.respond(502), .respond(504), .respond(200)], [.respond(500), .respond(200)]]) {
            (ups) async throws in
            let routes =
                RetryRig.retry("retry_on: gateway-error, num_retries: 3", prefix: "/gw", cluster: "gw")
                + RetryRig.retry("retry_on: gateway-error, num_retries: 3", prefix: "/five", cluster: "five")
            let clusters =
                TestConfig.cluster("gw", endpoints: [.init(port: ups[0].port)])
                + TestConfig.cluster("five", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, extraClusters: clusters) { (proxy, _) async throws in
                #expect(try await Self.get(proxy, "/gw").status == 200)
                #expect(ups[0].requestCount == 3)
                #expect(try await Self.get(proxy, "/five").status == 500)
                #expect(ups[1].requestCount == 1)
                #expect(try await proxy.stat("cluster.gw.upstream_rq_retry") == 2)
                #expect(try await proxy.stat("cluster.five.upstream_rq_retry") == 0)
            }
        }
    }

    @Test("reset: an upstream that closes without answering is retried; its 503 is not")
    func reset() async throws {
        try await FlakyUpstream.withEach([[.close, .respond(200, body: "ok")], [.respond(503), .respond(200)]]) { (ups) async throws in
            let routes =
                RetryRig.retry("retry_on: reset", prefix: "/close", cluster: "closing")
                + RetryRig.retry("retry_on: reset", prefix: "/503", cluster: "failing")
            let clusters =
                TestConfig.cluster("closing", endpoints: [.init(port: ups[0].port)])
                + TestConfig.cluster("failing", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, extraClusters: clusters) { (proxy, _) async throws in
                let response = try await Self.get(proxy, "/close")
                #expect(response.status == 200)
                #expect(response.body == "ok")
                #expect(ups[0].requestCount == 2)
                #expect(try await Self.get(proxy, "/503").status == 503)
                #expect(ups[1].requestCount == 1)
                #expect(try await proxy.stat("cluster.closing.upstream_rq_retry_success") == 1)
            }
        }
    }

    @Test("reset retries run out: 503 with Envoy's reset body, flags URX and UC, num_retries + 1 attempts")
    func resetExhausted() async throws {
        try await FlakyUpstream.with([.close]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: reset, num_retries: 3")) { (proxy, log) async throws in
                let response = try await Self.get(proxy)
                #expect(response.status == 503)
                #expect(response.body.hasPrefix("upstream connect error or disconnect/reset before headers."))
                #expect(response.body.hasSuffix("reset reason: connection termination"))
                #expect(upstream.requestCount == 4)
                let entry = await RetryRig.entry(log)
                #expect(entry?.flags == ["URX", "UC"])
                #expect(entry?.details == "upstream_reset_before_response_started{connection_termination}")
                #expect(entry?.attempts == "4")
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 3)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_limit_exceeded") == 1)
            }
        }
    }

    // Checked against Envoy 1.40: the local reply after retries says "retried and the latest
    // reset reason: connection termination" (and "... remote connection failure" for refused
    // connects).
    @Test(
        "after retries the reset body says 'retried and the latest reset reason'")
    func resetBodyAfterRetries() async throws {
        try await FlakyUpstream.with([.close]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: reset, num_retries: 1")) { (proxy, _) async throws in
                let response = try await Self.get(proxy)
                #expect(response.status == 503)
                #expect(
                    response.body == "upstream connect error or disconnect/reset before headers. "
                        + "retried and the latest reset reason: connection termination")
            }
        }
    }

    @Test("retriable-4xx retries a 409 but forwards a 404")
    func retriable4xx() async throws {
        try await FlakyUpstream.withEach([[.respond(409), .respond(200)], [.respond(404), .respond(200)]]) { (ups) async throws in
            let routes =
                RetryRig.retry("retry_on: retriable-4xx", prefix: "/conflict", cluster: "conflict")
                + RetryRig.retry("retry_on: retriable-4xx", prefix: "/missing", cluster: "missing")
            let clusters =
                TestConfig.cluster("conflict", endpoints: [.init(port: ups[0].port)])
                + TestConfig.cluster("missing", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, extraClusters: clusters) { (proxy, _) async throws in
                #expect(try await Self.get(proxy, "/conflict").status == 200)
                #expect(ups[0].requestCount == 2)
                #expect(try await Self.get(proxy, "/missing").status == 404)
                #expect(ups[1].requestCount == 1)
            }
        }
    }

    @Test("refused-stream is accepted but never retries on HTTP/1: a 503 and a close are final")
    func refusedStream() async throws {
        try await FlakyUpstream.withEach([[.respond(503), .respond(200)], [.close, .respond(200)]]) { (ups) async throws in
            let routes =
                RetryRig.retry("retry_on: refused-stream, num_retries: 3", prefix: "/503", cluster: "a")
                + RetryRig.retry("retry_on: refused-stream, num_retries: 3", prefix: "/close", cluster: "b")
            let clusters =
                TestConfig.cluster("a", endpoints: [.init(port: ups[0].port)])
                + TestConfig.cluster("b", endpoints: [.init(port: ups[1].port)])
            try await RetryRig.run([], routes: routes, extraClusters: clusters) { (proxy, _) async throws in
                #expect(try await Self.get(proxy, "/503").status == 503)
                #expect(try await Self.get(proxy, "/close").status == 503)
                #expect(ups[0].requestCount == 1)
                #expect(ups[1].requestCount == 1)
            }
        }
    }

    @Test("retriable-status-codes retries a listed code (418) and forwards an unlisted 503")
    func retriableStatusCodes() async throws {
        try await FlakyUpstream.with([.respond(418), .respond(503), .respond(418)]) { (upstream) async throws in
            let policy = "retry_on: retriable-status-codes, retriable_status_codes: [418], num_retries: 3"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy)) { (proxy, _) async throws in
                #expect(try await Self.get(proxy).status == 503)
                #expect(upstream.requestCount == 2)
            }
        }
    }

    @Test("retriable-headers retries a response carrying a matching header")
    func retriableHeaders() async throws {
        try await FlakyUpstream.with([.respond(500, headers: ["x-retry-me": "yes"]), .respond(200)]) { (upstream) async throws in
            let policy =
                "retry_on: retriable-headers, retriable_headers: [{name: x-retry-me, string_match: {exact: \"yes\"}}]"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy)) { (proxy, _) async throws in
                let response = try await Self.get(proxy)
                #expect(response.status == 200)
                #expect(response.header("x-retry-me") == nil)
                #expect(upstream.requestCount == 2)
            }
        }
    }

    @Test("num_retries defaults to 1: 503, 503, 200 ends as the second 503 with URX")
    func defaultNumRetries() async throws {
        try await FlakyUpstream.with([.respond(503, body: "one"), .respond(503, body: "two"), .respond(200)]) {
            (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, log) async throws in
                let response = try await Self.get(proxy)
                #expect(response.status == 503)
                #expect(response.body == "two", "the last upstream response is forwarded as it is")
                #expect(upstream.requestCount == 2)
                #expect(await log.waitForLines(1) == ["503 URX via_upstream 2"])
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_limit_exceeded") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_success") == 0)
            }
        }
    }

    @Test("retry_back_off: five retries with a 10-20 ms backoff all run and finish well within 3 s")
    func backOff() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(503), .respond(503), .respond(503), .respond(503), .respond(200)]) {
            (upstream) async throws in
            let policy = "retry_on: 5xx, num_retries: 5, retry_back_off: {base_interval: 0.01s, max_interval: 0.02s}"
            try await RetryRig.run([upstream], routes: RetryRig.retry(policy)) { (proxy, _) async throws in
                let started = ContinuousClock.now
                #expect(try await Self.get(proxy).status == 200)
                #expect(ContinuousClock.now - started < .seconds(3))
                #expect(upstream.requestCount == 6)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 5)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_backoff_exponential") == 5)
            }
        }
    }

    @Test("connect-failure: a refused cluster is tried num_retries + 1 times; 503 UF with URX")
    func connectFailureExhausted() async throws {
        let refused = try FreePort.dead()
        let cluster = TestConfig.cluster("refused", endpoints: [.init(port: refused)])
        let routes = RetryRig.retry("retry_on: connect-failure, num_retries: 2", cluster: "refused")
        try await RetryRig.run([], routes: routes, extraClusters: cluster) { (proxy, log) async throws in
            let response = try await Self.get(proxy)
            #expect(response.status == 503)
            #expect(response.body.hasSuffix("reset reason: remote connection failure"))
            let entry = await RetryRig.entry(log)
            #expect(entry?.flags == ["URX", "UF"])
            #expect(entry?.attempts == "3")
            #expect(try await proxy.stat("cluster.refused.upstream_cx_connect_fail") == 3)
            #expect(try await proxy.stat("cluster.refused.upstream_rq_retry") == 2)
            #expect(try await proxy.stat("cluster.refused.upstream_rq_retry_limit_exceeded") == 1)
        }
    }

    @Test("connect-failure with previous_hosts: a refused host is skipped and the request succeeds on the other")
    func connectFailureMovesOn() async throws {
        let refused = try FreePort.dead()
        try await FlakyUpstream.with([.respond(200, body: "alive")]) { (upstream) async throws in
            let cluster = TestConfig.cluster(
                "mixed", endpoints: [.init(port: refused), .init(port: upstream.port)])
            let routes = RetryRig.retry(
                "retry_on: connect-failure, num_retries: 1, \(RetryRig.previousHosts)", cluster: "mixed")
            try await RetryRig.run([], routes: routes, extraClusters: cluster) { (proxy, _) async throws in
                for _ in 0..<4 {
                    let response = try await Self.get(proxy)
                    #expect(response.status == 200)
                    #expect(response.body == "alive")
                }
                #expect(upstream.requestCount == 4)
            }
        }
    }
}
