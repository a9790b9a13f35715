import FerryTestKit
import Testing

/// Slow clients are cut off by the connection manager's timeouts while a normal client on its
/// own keep-alive connection goes on being served: slowloris (a head that never ends) by
/// `request_headers_timeout`, a stalled body by `stream_idle_timeout`, a trickling body by
/// `request_timeout`.
///
/// Checked against Envoy 1.40 with the same timeouts: the same statuses, bodies, details and
/// flags (408 "request header timeout" `-`, 408 "stream timeout" SI, 408 "request timeout" `-`),
/// each with `connection: close`.
@Suite("Hardening: slow clients")
struct SlowClientTests {
    /// Each test puts the timeout it is about well below the other two, so that a loaded machine
    /// (a sleep that overruns) cannot make a different timeout fire first.
    static func timeouts(headers: Int = 10, idle: Int = 10, request: Int = 20) -> String {
        "request_headers_timeout: \(headers)s\nstream_idle_timeout: \(idle)s\nrequest_timeout: \(request)s\n"
    }

    static func run(
        timeouts: String, _ body: (ProxyHarness, AccessLogFile) async throws -> Void
    ) async throws {
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(
                upstreams: ["backend"],
                yaml: { ports in
                    TestConfig.bootstrap(
                        routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [ports[0]])],
                        hcmExtra: timeouts + log.yaml())
                }
            ) { proxy, _ in try await body(proxy, log) }
        }
    }

    /// Runs `slow` while one keep-alive client sends GETs for `duration`; checks that the
    /// normal client saw no failure and kept being served (a few requests are enough: the count
    /// depends on the machine's load, the absence of failures does not).
    static func whileServingNormalClient(
        _ proxy: ProxyHarness, duration: Duration = .seconds(2.5), sourceLocation: SourceLocation = #_sourceLocation,
        _ slow: () async throws -> Void
    ) async throws {
        let port = proxy.port
        async let normal = KeepAliveLoad.run(
            port: port, duration: duration, maxRequests: 2000, pause: .milliseconds(10)
        ) { _, i in "/normal/\(i)" }
        try await slow()
        let report = await normal
        #expect(report.failures.isEmpty, "\(report.failures.prefix(3))", sourceLocation: sourceLocation)
        #expect(
            report.successes >= 3, "only \(report.successes) normal requests served", sourceLocation: sourceLocation)
        #expect(report.connectionsOpened == 1, sourceLocation: sourceLocation)
    }

    /// Waits for the proxy to close `connection` and returns its one response.
    static func closingResponse(_ connection: RawConnection, sourceLocation: SourceLocation = #_sourceLocation) async
        -> WireResponse?
    {
        let closed = await connection.waitForClose(timeout: .seconds(10))
        #expect(closed, "the slow connection was not closed", sourceLocation: sourceLocation)
        let responses = WireResponse.parseAll(connection.received, closed: true)
        #expect(responses.count == 1, "\(connection.text)", sourceLocation: sourceLocation)
        #expect(responses.first?.header("connection") == "close", sourceLocation: sourceLocation)
        return responses.first
    }

    @Test("slowloris: a head trickled one header line every 250 ms is cut off at request_headers_timeout with 408")
    func slowloris() async throws {
        try await Self.run(timeouts: Self.timeouts(headers: 1)) { proxy, log in
            try await Self.whileServingNormalClient(proxy) {
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send("GET /slow HTTP/1.1\r\nHost: a\r\n")
                    var lines = 0
                    while !connection.isClosed, lines < 20 {
                        try await Task.sleep(for: .milliseconds(250))
                        try? await connection.send("x-trickle-\(lines): 1\r\n")
                        lines += 1
                    }
                    let response = await Self.closingResponse(connection)
                    #expect(response?.status == 408)
                    #expect(response?.bodyText == "request header timeout")
                    #expect(lines < 20, "the head was never cut off")
                }
            }
            #expect(await proxy.localStat("http.ingress_http.downstream_rq_header_timeout") == 1)
            #expect(await log.waitForLines(1).contains("408 - request_header_timeout"))
        }
    }

    @Test("a body that stops arriving is cut off at stream_idle_timeout: 408 'stream timeout', flag SI")
    func stalledBody() async throws {
        try await Self.run(timeouts: Self.timeouts(idle: 1)) { proxy, log in
            try await Self.whileServingNormalClient(proxy) {
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send(
                        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nfirst bytes")
                    let response = await Self.closingResponse(connection)
                    #expect(response?.status == 408)
                    #expect(response?.bodyText == "stream timeout")
                }
            }
            #expect(await proxy.localStat("http.ingress_http.downstream_rq_idle_timeout") == 1)
            let lines = await log.waitForLines(1)
            #expect(lines.contains("408 SI stream_idle_timeout"), "\(lines)")
        }
    }

    @Test("a body trickled a byte every 300 ms is cut off at request_timeout: 408 'request timeout'")
    func tricklingBody() async throws {
        try await Self.run(timeouts: Self.timeouts(request: 2)) { proxy, log in
            try await Self.whileServingNormalClient(proxy, duration: .seconds(3)) {
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send("POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
                    var bytes = 0
                    while !connection.isClosed, bytes < 30 {
                        try await Task.sleep(for: .milliseconds(300))
                        try? await connection.send("b")
                        bytes += 1
                    }
                    let response = await Self.closingResponse(connection)
                    #expect(response?.status == 408)
                    #expect(response?.bodyText == "request timeout")
                    #expect(bytes < 30, "the body was never cut off")
                }
            }
            #expect(await proxy.localStat("http.ingress_http.downstream_rq_timeout") == 1)
            let lines = await log.waitForLines(1)
            #expect(lines.contains("408 - request_overall_timeout"), "\(lines)")
        }
    }
}
