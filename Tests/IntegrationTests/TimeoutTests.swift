import FerryTestKit
import Testing

/// Stream timeouts on the real network: the route's timeout and idle_timeout, the connection
/// manager's stream_idle_timeout and request_timeout. (The route timeout's 504 UT and the route
/// idle timeout's 504 SI themselves are pinned in LocalReplyFlagTests.)
///
/// Checked against the real Envoy 1.40: stream_idle_timeout with the request complete and the
/// upstream silent gave 504 "stream timeout" without connection: close; with the request body
/// incomplete it gave 408 "stream timeout" with connection: close and flag SI; request_timeout
/// gave 408 "request timeout", connection: close, no flag, details request_overall_timeout.
@Suite("Timeouts: route and stream")
struct TimeoutTests {
    static let hang: [FlakyUpstream.Action] = [.hang]

    @Test("a route timeout of 0s disables the route timeout")
    func routeTimeoutZero() async throws {
        try await FlakyUpstream.with([.after(.milliseconds(400), .respond(200, body: "late"))]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route("/", "timeout: 0s")) { (proxy, _) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 200)
                #expect(response.body == "late")
                #expect(upstream.requests.first?.header("x-envoy-expected-rq-timeout-ms") == nil)
            }
        }
    }

    @Test("the route timeout answers 504 UT and the upstream connection is closed")
    func routeTimeoutClosesUpstream() async throws {
        try await FlakyUpstream.with(Self.hang) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route("/", "timeout: 0.2s")) { (proxy, log) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 504)
                #expect(response.body == "upstream request timeout")
                #expect(await log.waitForLines(1) == ["504 UT response_timeout 1"])
                #expect(await upstream.wait { $0.connectionsClosed == 1 })
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_timeout") == 1)
            }
        }
    }

    @Test("stream_idle_timeout: a silent upstream after a complete request gives 504 'stream timeout', SI")
    func streamIdleTimeout() async throws {
        try await FlakyUpstream.with(Self.hang) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: "stream_idle_timeout: 0.2s\n") {
                (proxy, log) async throws in
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(response.status == 504)
                #expect(response.body == "stream timeout")
                #expect(response.header("connection") == nil)
                #expect(await log.waitForLines(1) == ["504 SI stream_idle_timeout 1"])
                #expect(try await proxy.stat("http.ingress_http.downstream_rq_idle_timeout") == 1)
            }
        }
    }

    @Test("stream_idle_timeout with the request body unfinished gives 408 'stream timeout' and closes")
    func streamIdleTimeoutDuringRequest() async throws {
        try await FlakyUpstream.with(Self.hang) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: "stream_idle_timeout: 0.2s\n") {
                (proxy, log) async throws in
                try await RawConnection.with(port: proxy.port) { (connection) async throws in
                    try await connection.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
                    #expect(await connection.waitForClose())
                    let response = WireResponse.parseAll(connection.received, closed: true).first
                    #expect(response?.status == 408)
                    #expect(response?.bodyText == "stream timeout")
                    #expect(response?.header("connection") == "close")
                }
                #expect(await RetryRig.entry(log).map { [$0.code, $0.details] } == ["408", "stream_idle_timeout"])
            }
        }
    }

    /// A route's idle_timeout replaces the HCM's stream_idle_timeout: 2 s outlasts the HCM's 0.2 s,
    /// and 0 s disables the idle timeout altogether.
    @Test("a route's idle_timeout (2s, or 0s = off) replaces the HCM's 0.2 s stream_idle_timeout", arguments: ["2s", "0s"])
    func routeIdleOverridesHCM(_ routeIdle: String) async throws {
        try await FlakyUpstream.with([.after(.milliseconds(500), .respond(200))]) { (upstream) async throws in
            try await RetryRig.run(
                [upstream], routes: RetryRig.route("/", "idle_timeout: \(routeIdle)"), hcmExtra: "stream_idle_timeout: 0.2s\n"
            ) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            }
        }
    }

    @Test("request_timeout: a request body that never completes gets 408 'request timeout' and the connection closes")
    func requestTimeout() async throws {
        try await FlakyUpstream.with(Self.hang) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: "request_timeout: 0.3s\n") {
                (proxy, log) async throws in
                try await RawConnection.with(port: proxy.port) { (connection) async throws in
                    try await connection.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
                    #expect(await connection.waitForClose())
                    let response = WireResponse.parseAll(connection.received, closed: true).first
                    #expect(response?.status == 408)
                    #expect(response?.bodyText == "request timeout")
                    #expect(response?.header("connection") == "close")
                }
                let entry = await RetryRig.entry(log)
                #expect(entry?.code == "408")
                #expect(entry?.flags == ["-"])
                #expect(entry?.details == "request_overall_timeout")
                #expect(try await proxy.stat("http.ingress_http.downstream_rq_timeout") == 1)
            }
        }
    }

    @Test("request_timeout stops once the request is complete: a slow response still arrives")
    func requestTimeoutEndsWithRequest() async throws {
        try await FlakyUpstream.with([.after(.milliseconds(500), .respond(200, body: "slow"))]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: "request_timeout: 0.2s\n") { (proxy, _) async throws in
                let response = try await RetryRig.post(proxy.url("/"), bytes: 100)
                #expect(response.status == 200)
                #expect(response.body == "slow")
            }
        }
    }
}
