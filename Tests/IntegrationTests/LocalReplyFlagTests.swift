import FerryTestKit
import Testing

/// Failures answered by the proxy: status, Envoy's body, and the response flags and details
/// the access log records (`%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%`).
@Suite("Local replies and response flags")
struct LocalReplyFlagTests {
    static let routes = """
        - match: {prefix: "/refused"}
          route: {cluster: refused}
        - match: {prefix: "/nohosts"}
          route: {cluster: nohosts}
        - match: {prefix: "/timeout"}
          route: {cluster: backend, timeout: 0.5s, prefix_rewrite: "/delay/2000"}
        - match: {prefix: "/idle"}
          route: {cluster: backend, idle_timeout: 0.3s, prefix_rewrite: "/delay/2000"}
        - match: {prefix: "/ok"}
          route: {cluster: backend}
        """

    /// A proxy with a refused cluster (a free port), a DNS cluster without addresses, and
    /// an echo backend; the access log records code, flags and details.
    static func run(_ body: (ProxyHarness, AccessLogFile) async throws -> Void) async throws {
        let refusedPort = try FreePort.dead()
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(
                upstreams: ["backend"],
                yaml: { ports in
                    let clusters =
                        TestConfig.cluster("refused", endpoints: [.init(port: refusedPort)])
                        + TestConfig.cluster(
                            "nohosts", type: "STRICT_DNS",
                            endpoints: [.init(address: "does-not-exist.invalid", port: 80)])
                    return TestConfig.bootstrap(
                        routes: routes, clusters: [("backend", [ports[0]])], hcmExtra: log.yaml(),
                        extraClusters: clusters)
                }, hostOverrides: ["does-not-exist.invalid": []]
            ) { proxy, _ in
                try await body(proxy, log)
            }
        }
    }

    /// A proxy in front of an upstream that announces 1000 bytes, sends 15 and closes.
    static func withTruncatingUpstream(_ body: (ProxyHarness, AccessLogFile) async throws -> Void) async throws {
        try await ScriptedUpstream.with({ _ in
            .bytes("HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\nonly-part-of-it", close: true)
        }) { upstream in
            try await AccessLogFile.with { log in
                try await ProxyHarness.with(yaml: { _ in
                    TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "broken"),
                                         clusters: [("broken", [upstream.port])], hcmExtra: log.yaml())
                }) { proxy, _ in
                    try await body(proxy, log)
                }
            }
        }
    }

    @Test("no matching route: 404 with no body, flag NR, details route_not_found")
    func noRoute() async throws {
        try await Self.run { proxy, log in
            let response = try await Support.get(proxy, "/nowhere")
            #expect(response.status == 404)
            #expect(response.body == "")
            #expect(await log.waitForLines(1) == ["404 NR route_not_found"])
        }
    }

    @Test("a cluster without endpoints: 503 'no healthy upstream', flag UH")
    func noHealthyUpstream() async throws {
        try await Self.run { proxy, log in
            let response = try await Support.get(proxy, "/nohosts")
            #expect(response.status == 503)
            #expect(response.body == "no healthy upstream")
            #expect(response.header("content-type") == "text/plain")
            #expect(await log.waitForLines(1) == ["503 UH no_healthy_upstream"])
            #expect(try await proxy.stat("cluster.nohosts.membership_total") == 0)
        }
    }

    @Test("connection refused: 503 with Envoy's reset body, flag UF, connect_fail counted")
    func connectRefused() async throws {
        try await Self.run { proxy, log in
            let response = try await Support.get(proxy, "/refused")
            #expect(response.status == 503)
            let envoyBody =
                "upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"
            #expect(response.body == envoyBody)
            let lines = await log.waitForLines(1)
            #expect(lines.count == 1)
            #expect(
                lines.first?.hasPrefix("503 UF upstream_reset_before_response_started{remote_connection_failure")
                    == true,
                "\(lines)")
            #expect(try await proxy.stat("cluster.refused.upstream_cx_connect_fail") == 1)
        }
    }

    @Test("a body cut short by the upstream is logged as Envoy does: UPE, protocol_error")
    func upstreamClosesMidResponseFlags() async throws {
        try await Self.withTruncatingUpstream { proxy, log in
            _ = try await Curl.fetch(proxy.url("/partial"))
            let lines = await log.waitForLines(1)
            #expect(lines == ["200 UPE upstream_reset_after_response_started{protocol_error}"])
        }
    }

    @Test("Envoy's UF details name the transport failure: delayed_connect_error:_Connection_refused")
    func connectRefusedDetails() async throws {
        try await Self.run { proxy, log in
            _ = try await Support.get(proxy, "/refused")
            #expect(
                await log.waitForLines(1) == [
                    "503 UF upstream_reset_before_response_started"
                        + "{remote_connection_failure|delayed_connect_error:_Connection_refused}"
                ])
        }
    }

    @Test("the route timeout answers 504 'upstream request timeout' with flag UT after about 0.5 s")
    func routeTimeout() async throws {
        try await Self.run { proxy, log in
            let started = ContinuousClock.now
            let response = try await Support.get(proxy, "/timeout")
            let elapsed = ContinuousClock.now - started
            #expect(response.status == 504)
            #expect(response.body == "upstream request timeout")
            #expect(elapsed >= .milliseconds(450) && elapsed < .milliseconds(1900), "took \(elapsed)")
            #expect(await log.waitForLines(1) == ["504 UT response_timeout"])
            #expect(try await proxy.stat("cluster.backend.upstream_rq_timeout") == 1)
        }
    }

    @Test("the route idle_timeout answers 504 'stream timeout' with flag SI")
    func routeIdleTimeout() async throws {
        try await Self.run { proxy, log in
            let started = ContinuousClock.now
            let response = try await Support.get(proxy, "/idle")
            let elapsed = ContinuousClock.now - started
            #expect(response.status == 504)
            #expect(response.body == "stream timeout")
            #expect(elapsed >= .milliseconds(250) && elapsed < .milliseconds(1900), "took \(elapsed)")
            #expect(await log.waitForLines(1) == ["504 SI stream_idle_timeout"])
        }
    }

    @Test("an upstream that closes in the middle of a body makes the proxy close the client connection")
    func upstreamClosesMidResponse() async throws {
        try await Self.withTruncatingUpstream { proxy, log in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /partial HTTP/1.1\r\nHost: a\r\n\r\n")
                #expect(await connection.waitForClose())
                let text = connection.text
                #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
                #expect(text.contains("content-length: 1000\r\n"))
                #expect(text.hasSuffix("\r\n\r\nonly-part-of-it"))
                // The response is incomplete: the client can tell it was cut short.
                #expect(WireResponse.parseAll(connection.received, closed: true).isEmpty)
            }
            // An upstream failure is logged; the exact flags are checked in upstreamClosesMidResponseFlags.
            let lines = await log.waitForLines(1)
            #expect(lines.count == 1)
            #expect(lines.first?.hasPrefix("200 U") == true, "\(lines)")
        }
    }
}
