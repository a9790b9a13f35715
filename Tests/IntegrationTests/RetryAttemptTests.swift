import FerryTestKit
import Testing

/// What each retry attempt looks like: the attempt-count header, the host it goes to, the
/// request body it replays (only while the body fits the retry buffer), and the
/// x-envoy-expected-rq-timeout-ms it carries.
///
/// Checked against the real Envoy 1.40: with include_request_attempt_count the upstream saw
/// x-envoy-attempt-count 1, 2, 3; with previous_hosts over three hosts each attempt went to
/// another host; a 500-byte body under a 1024-byte per_request_buffer_limit_bytes was replayed,
/// a 2000-byte one was sent once and not retried (retry_or_shadow_abandoned 1); on each retry
/// x-envoy-expected-rq-timeout-ms carried the time left of the route timeout (15000, 14980, ...).
@Suite("Retries: attempts, hosts and the retry buffer")
struct RetryAttemptTests {
    static let attemptCount = "include_request_attempt_count: true"

    @Test("include_request_attempt_count: the upstream sees x-envoy-attempt-count 1, then 2, then 3")
    func attemptCountHeader() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run(
                [upstream], routes: RetryRig.retry("retry_on: 5xx, num_retries: 2"), virtualHostExtra: Self.attemptCount
            ) { (proxy, log) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(upstream.headerValues("x-envoy-attempt-count") == ["1", "2", "3"])
                #expect(await log.waitForLines(1) == ["200 - via_upstream 3"])
            }
        }
    }

    @Test("without include_request_attempt_count the upstream sees no x-envoy-attempt-count")
    func noAttemptCountHeader() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(upstream.headerValues("x-envoy-attempt-count") == ["", ""])
            }
        }
    }

    @Test("include_attempt_count_in_response: the client sees the attempts the response took")
    func attemptCountInResponse() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run(
                [upstream], routes: RetryRig.retry("retry_on: 5xx"),
                virtualHostExtra: "include_attempt_count_in_response: true"
            ) { (proxy, _) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 200)
                #expect(response.header("x-envoy-attempt-count") == "2")
            }
        }
    }

    @Test("previous_hosts over three hosts: every attempt goes to a host not tried before")
    func previousHostsThreeHosts() async throws {
        try await FlakyUpstream.withEach([[.respond(503)], [.respond(503)], [.respond(503)]]) { (ups) async throws in
            let policy = "retry_on: 5xx, num_retries: 2, host_selection_retry_max_attempts: 5, \(RetryRig.previousHosts)"
            try await RetryRig.run(ups, routes: RetryRig.retry(policy)) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                #expect(ups.map(\.requestCount) == [1, 1, 1])
            }
        }
    }

    @Test("previous_hosts with host_selection_retry_max_attempts moves the retry off a 10:1 favourite host")
    func previousHostsWeighted() async throws {
        try await FlakyUpstream.withEach([[.respond(503)], [.respond(503)]]) { (ups) async throws in
            let cluster = TestConfig.cluster(
                "weighted", endpoints: [.init(port: ups[0].port, weight: 10), .init(port: ups[1].port, weight: 1)])
            let policy = "retry_on: 5xx, num_retries: 1, host_selection_retry_max_attempts: 30, \(RetryRig.previousHosts)"
            try await RetryRig.run([], routes: RetryRig.retry(policy, cluster: "weighted"), extraClusters: cluster) {
                (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                // Without the predicate a 10:1 pick would nearly always retry on the favourite.
                #expect(ups.map(\.requestCount) == [1, 1])
            }
        }
    }

    @Test("a body that fits per_request_buffer_limit_bytes is replayed on the retry")
    func bodyReplayed() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            let routes = RetryRig.retry("retry_on: 5xx") + "  per_request_buffer_limit_bytes: 1024\n"
            try await RetryRig.run([upstream], routes: routes) { (proxy, _) async throws in
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 500).status == 200)
                #expect(upstream.requests.map(\.bodyBytes) == [500, 500])
            }
        }
    }

    @Test("a body over per_request_buffer_limit_bytes streams once and the 503 is not retried")
    func bodyOverRouteLimit() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            let routes = RetryRig.retry("retry_on: 5xx, num_retries: 2") + "  per_request_buffer_limit_bytes: 1024\n"
            try await RetryRig.run([upstream], routes: routes) { (proxy, _) async throws in
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 2000).status == 503)
                #expect(upstream.requests.map(\.bodyBytes) == [2000])
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 0)
            }
        }
    }

    @Test(
        "giving up retries for an oversized body counts cluster.<c>.retry_or_shadow_abandoned")
    func bodyOverLimitStat() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            let routes = RetryRig.retry("retry_on: 5xx") + "  per_request_buffer_limit_bytes: 1024\n"
            try await RetryRig.run([upstream], routes: routes) { (proxy, _) async throws in
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 2000).status == 503)
                #expect(try await proxy.stat("cluster.flaky.retry_or_shadow_abandoned") == 1)
            }
        }
    }

    @Test("the virtual host's per_request_buffer_limit_bytes applies when the route has none")
    func virtualHostBufferLimit() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run(
                [upstream], routes: RetryRig.retry("retry_on: 5xx"), virtualHostExtra: "per_request_buffer_limit_bytes: 1024"
            ) { (proxy, _) async throws in
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 1500).status == 503)
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 800).status == 200)
                #expect(upstream.requests.map(\.bodyBytes) == [1500, 800])
            }
        }
    }

    @Test("the default retry buffer is the listener's 1 MiB: 64 KiB is replayed, 1.5 MiB is not retried")
    func defaultBufferLimit() async throws {
        try await FlakyUpstream.with([.respond(503), .respond(200), .respond(503), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx")) { (proxy, _) async throws in
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 64 * 1024).status == 200)
                #expect(try await RetryRig.post(proxy.url("/"), bytes: 1_572_864).status == 503)
                #expect(upstream.requests.map(\.bodyBytes) == [65536, 65536, 1_572_864])
            }
        }
    }

    @Test(
        "on a retry x-envoy-expected-rq-timeout-ms is the time left of the route timeout")
    func expectedTimeoutShrinks() async throws {
        try await FlakyUpstream.with([.after(.milliseconds(100), .respond(503)), .respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx", fields: "timeout: 5s")) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                let values = upstream.headerValues("x-envoy-expected-rq-timeout-ms").compactMap { Int($0) }
                #expect(values.count == 2)
                #expect(values.first == 5000)
                #expect((values.last ?? 5000) <= 4900, "\(values)")
            }
        }
    }
}
