import FerryTestKit
import Testing

/// The real `slowhttptest` against the proxy, 200 connections at 100 per second, a follow-up
/// every 5 s, for at most 15 s: in slowloris mode (-H) `request_headers_timeout` and in slow
/// body mode (-B) `stream_idle_timeout` close every one of its connections, so the tool stops
/// early with "No open connections left", while a normal keep-alive client is served
/// throughout. Envoy 1.40 with the same config ends both runs the same way (-H on its 5th
/// second, -B on its 8th).
@Suite("Hardening: slowhttptest against the proxy", .serialized)
struct SlowHTTPToolTests {
    static let connections = 200

    static func run(_ mode: SlowHTTPTest.Mode, _ body: (ProxyHarness, SlowHTTPTest.Report) async throws -> Void)
        async throws
    {
        let hcm = "request_headers_timeout: 2s\nstream_idle_timeout: 2s\n"
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [ports[0]])],
                    hcmExtra: hcm)
            }
        ) { proxy, _ in
            let port = proxy.port
            // The attack's connections are all open after 2 s; the normal client overlaps them.
            async let normal = KeepAliveLoad.run(
                port: port, duration: .seconds(5), maxRequests: 5000, pause: .milliseconds(10)
            ) { _, i in "/normal/\(i)" }
            let report = try await SlowHTTPTest.run(
                mode, url: "http://127.0.0.1:\(port)/", connections: connections, rate: 100, interval: 5, length: 15)
            let load = await normal
            #expect(load.failures.isEmpty, "\(load.failures.prefix(3))")
            #expect(load.successes >= 20, "only \(load.successes) normal requests served")
            try await body(proxy, report)
        }
    }

    /// The proxy, not the tool's time limit, ended the run, having closed most connections.
    static func expectClosedByProxy(_ report: SlowHTTPTest.Report, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(
            report.exitReason == "No open connections left", "\(report.stdout.suffix(400))",
            sourceLocation: sourceLocation)
        #expect((report.endedOnSecond ?? 99) < 15, sourceLocation: sourceLocation)
        #expect(report.maxClosed >= connections / 2, "\(report.samples)", sourceLocation: sourceLocation)
    }

    @Test("slowhttptest -H (slowloris): every connection is closed by request_headers_timeout")
    func slowHeaders() async throws {
        try await Self.run(.headers) { proxy, report in
            Self.expectClosedByProxy(report)
            let timeouts = await proxy.localStat("http.ingress_http.downstream_rq_header_timeout") ?? 0
            #expect(timeouts >= report.maxClosed, "\(timeouts) header timeouts for \(report.maxClosed) closed")
        }
    }

    @Test("slowhttptest -B (slow body): every connection is closed by stream_idle_timeout")
    func slowBody() async throws {
        try await Self.run(.body) { proxy, report in
            Self.expectClosedByProxy(report)
            let timeouts = await proxy.localStat("http.ingress_http.downstream_rq_idle_timeout") ?? 0
            #expect(timeouts >= report.maxClosed, "\(timeouts) idle timeouts for \(report.maxClosed) closed")
        }
    }
}
