import FerryTestKit
import Foundation
import Testing

/// HTTP/2 from clients (`codec_type`, h2c with prior knowledge, h2 over TLS by ALPN,
/// `http2_protocol_options`) through the same connection manager and router as HTTP/1, checked
/// with curl, nghttp and a frame-level Python `h2` client (HTTP2Support.swift).
@Suite("HTTP/2 downstream")
struct HTTP2DownstreamTests {
    static let routes = """
        - match: {prefix: /direct}
          direct_response: {status: 200, body: {inline_string: "direct\\n"}}
        - match: {prefix: /indexing}
          direct_response: {status: 200, body: {inline_string: "i"}}
          response_headers_to_add:
          - header: {key: set-cookie, value: "s=1"}
          - header: {key: etag, value: "\\"e1\\""}
          - header: {key: location, value: /elsewhere}
          - header: {key: x-kept, value: "yes"}
        - match: {prefix: /}
          route: {cluster: backend}
        """
    static let stat = "http.ingress_http."

    static func with(hcm: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])], hcmExtra: hcm)
        }) { proxy, _ in try await body(proxy) }
    }

    @Test("AUTO tells h2c prior knowledge from HTTP/1.1 on one port; an h2 body without a length reaches HTTP/1 chunked")
    func autoDetects() async throws {
        try await Self.with { proxy in
            let base = "http://127.0.0.1:\(proxy.port)"
            let get = try await Curl.fetch(["--http2-prior-knowledge", "\(base)/hello?x=1"])
            #expect(get.status == 200, "\(get.stderr)")
            let echo = try EchoReply(get.body)
            #expect(echo.path == "/hello?x=1" && echo.version == "HTTP/1.1")
            #expect(echo.header("host") == "127.0.0.1:\(proxy.port)")
            let direct = try await Curl.fetch(["--http2-prior-knowledge", "\(base)/direct"])
            #expect(direct.status == 200 && direct.body == "direct\n")
            // `-T -` streams stdin: HTTP/2 carries it with no content-length.
            let upload = try await ChildProcess.run("/usr/bin/curl", ["-s", "--http2-prior-knowledge", "-T", "-", "\(base)/up"],
                                                    stdin: Data(repeating: 0x61, count: 100_000), timeout: 10)
            let uploaded = try EchoReply(upload.stdout)
            #expect(uploaded.bodyBytes == 100_000 && uploaded.header("transfer-encoding") == "chunked")
            let plain = try await Curl.fetch("\(base)/plain")
            #expect(plain.status == 200)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_http2_total") == 3)
            #expect(try await proxy.stat(Self.stat + "downstream_rq_http2_total") == 3)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_http1_total") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_rq_http1_total") == 1)
        }
    }

    @Test("20 concurrent streams from nghttp share one connection and all succeed")
    func multiplexes() async throws {
        try await Self.with { proxy in
            let run = try await ChildProcess.run("/usr/bin/nghttp", ["-n", "-s", "-m", "20", "http://127.0.0.1:\(proxy.port)/many"],
                                                 timeout: 20)
            #expect(run.status == 0, "\(run.stderr)")
            let answered = run.stdout.split(separator: "\n").filter { $0.contains(" 200 ") && $0.contains("/many") }
            #expect(answered.count == 20, "\(run.stdout)")
            #expect(try await proxy.stat(Self.stat + "downstream_cx_http2_total") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_rq_http2_total") == 20)
            #expect(try await proxy.stat(Self.stat + "downstream_rq_2xx") == 20)
        }
    }

    @Test("response fields whose values rarely repeat stay out of the client's HPACK table (as nghttp2)")
    func hpackIndexing() async throws {
        try await Self.with { proxy in
            let report = try await H2Client.run("indexing", port: proxy.port, ["/indexing"])
            #expect(report.streams?["1"]?.status == "200")
            let table = report.table ?? []
            #expect(table.contains("x-kept") && table.contains("content-type"), "\(table)")
            for name in ["set-cookie", "etag", "location", "content-length"] { #expect(!table.contains(name), "\(name)") }
            #expect(report.never_indexed == [])
        }
    }

    @Test("codec_type HTTP2 serves h2c and refuses HTTP/1.1")
    func http2Only() async throws {
        try await Self.with(hcm: "codec_type: HTTP2") { proxy in
            let h2 = try await Curl.fetch(["--http2-prior-knowledge", "http://127.0.0.1:\(proxy.port)/direct"])
            #expect(h2.status == 200 && h2.body == "direct\n")
            let h1 = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/direct")
            #expect(h1.status == 0 && h1.exitCode != 0)
        }
    }

    @Test("http2_protocol_options become the SETTINGS the client sees")
    func settings() async throws {
        let options = "http2_protocol_options: {max_concurrent_streams: 7, initial_stream_window_size: 70000, hpack_table_size: 1024}"
        try await Self.with(hcm: options) { proxy in
            let report = try await H2Client.run("settings", port: proxy.port)
            // SETTINGS_HEADER_TABLE_SIZE 1, MAX_CONCURRENT_STREAMS 3, INITIAL_WINDOW_SIZE 4.
            #expect(report.settings?["1"] == 1024)
            #expect(report.settings?["3"] == 7)
            #expect(report.settings?["4"] == 70000)
        }
    }

    @Test("draining listeners sends GOAWAY and then closes the connection")
    func goAwayOnDrain() async throws {
        try await Self.with { proxy in
            let report = try await H2Client.run("drain", port: proxy.port, [String(proxy.adminPort), "/direct"])
            #expect(report.streams?["1"]?.status == "200")
            #expect(report.goaway?.error == 0, "\(report.events)")
            #expect(report.closed == true)
        }
    }

    @Test("idle_timeout: a connection without streams that long is closed gracefully (GOAWAY with the highest stream id, PING, GOAWAY naming its last stream), counted in downstream_cx_idle_timeout")
    func idleTimeout() async throws {
        try await Self.with(hcm: "common_http_protocol_options: {idle_timeout: 0.5s}") { proxy in
            let report = try await H2Client.run("lifecycle", port: proxy.port, ["/direct", "-", "ack", "5"])
            let frames = report.frames ?? []
            #expect(frames.contains { $0.type == 1 && $0.stream == 1 }, "\(frames)")
            #expect(frames.filter { $0.type == 7 }.map { [$0.last_stream ?? -1, $0.error ?? -1] } == [[2_147_483_647, 0], [1, 0]],
                    "\(frames)")
            #expect(report.closed_after.map { $0 >= 0.4 && $0 < 3 } == true, "\(report)")
            #expect(try await proxy.stat(Self.stat + "downstream_cx_idle_timeout") == 1)
        }
    }

    @Test("a drain with a stream in flight: GOAWAY with the highest stream id and a PING; after the ACK, GOAWAY naming the last stream; the stream is answered, then the connection closes")
    func drainWithStreamInFlight() async throws {
        try await Self.with(hcm: "drain_timeout: 5s") { proxy in
            let report = try await H2Client.run("lifecycle", port: proxy.port, ["/delay/800", String(proxy.adminPort), "ack", "6"])
            let frames = (report.frames ?? []).filter { $0.type != 4 && $0.type != 8 }  // not SETTINGS, WINDOW_UPDATE
            let goAways = frames.filter { $0.type == 7 }
            #expect(goAways.map { [$0.last_stream ?? -1, $0.error ?? -1] } == [[2_147_483_647, 0], [1, 0]], "\(frames)")
            // The PING follows the first GOAWAY, the second GOAWAY its ACK, and the response the second GOAWAY.
            let first = frames.firstIndex { $0.type == 7 } ?? -1
            let second = frames.lastIndex { $0.type == 7 } ?? -1
            #expect(frames.indices.contains(first + 1) && frames[first + 1].type == 6 && frames[first + 1].ack == false, "\(frames)")
            #expect(frames.last { $0.stream == 1 }?.end_stream == true, "\(frames)")
            #expect((frames.firstIndex { $0.stream == 1 } ?? -1) > second, "\(frames)")
            #expect(report.closed_after.map { $0 < 3 } == true, "\(report)")
            #expect(try await proxy.stat(Self.stat + "downstream_cx_drain_close") == 1)
        }
    }

    @Test("a drain whose PING is never answered closes at drain_timeout, counted from the first GOAWAY, even with a stream in flight")
    func drainWithoutPingAck() async throws {
        try await Self.with(hcm: "drain_timeout: 1s") { proxy in
            let report = try await H2Client.run("lifecycle", port: proxy.port, ["/delay/4000", String(proxy.adminPort), "noack", "6"])
            let frames = report.frames ?? []
            #expect(frames.filter { $0.type == 7 }.map { $0.last_stream ?? -1 } == [2_147_483_647], "\(frames)")
            #expect(!frames.contains { $0.stream == 1 }, "\(frames)")
            #expect(report.closed_after.map { $0 >= 0.7 && $0 < 3 } == true, "\(report)")
        }
    }

    @Test("a client that opens no window holds the upstream: the proxy reads a bounded part of an 8 MiB body")
    func responseBackpressure() async throws {
        try await Self.with { proxy in
            let report = try await H2Client.run("slow-reader", port: proxy.port, ["/bytes/8388608", "2"])
            let received = report.streams?["1"]?.bytes ?? 0
            #expect(received > 0 && received <= 65535, "\(report)")
            let read = try await proxy.stat("cluster.backend.upstream_cx_rx_bytes_total") ?? 0
            #expect(read > 0 && read < 4 * 1024 * 1024, "the proxy read \(read) bytes of 8 MiB")
        }
    }

    @Test("an upstream that reads nothing holds a client's upload at its window; once it reads, the whole body passes")
    func requestBackpressure() async throws {
        let total = 64 * 1024 * 1024
        try await TCPTestServer.with(.hold) { upstream in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Self.routes, clusters: [("backend", [upstream.port])],
                                     hcmExtra: "http2_protocol_options: {initial_stream_window_size: 65536}")
            }) { proxy, _ in
                let release = Task {
                    // Once the proxy has opened the upstream connection, the client has been
                    // sending; it gets 1.5 s more to push what it can.
                    _ = await Support.eventually { upstream.connections > 0 }
                    try await Task.sleep(for: .milliseconds(1500))
                    let at = Date().timeIntervalSince1970
                    upstream.startReading()
                    return at
                }
                let report = try await H2Client.run("upload", port: proxy.port, ["/upload", String(total), "20"])
                let releasedAt = try await release.value
                let before = report.marks?.last { $0[0] < releasedAt }?[1] ?? 0
                // Held: the stream's 64 KiB window plus what the sockets on the way buffer, far
                // from the 64 MiB a proxy without backpressure would have taken in 2 s.
                #expect(before > 0 && before < 16 * 1024 * 1024, "sent \(before) bytes before the upstream read any")
                #expect(report.sent == total, "\(report.sent ?? 0) of \(total) bytes sent")
                let arrived = await Support.eventually { upstream.bytesReceived >= total }
                #expect(arrived, "the upstream read \(upstream.bytesReceived) bytes")
            }
        }
    }

    /// A malformed request (RFC 9113 §8.2, §8.3) is reset with PROTOCOL_ERROR before it reaches
    /// the router; the connection and its other streams go on.
    /// The three ways to ask for it, in Envoy's order of precedence: HTTP/2's override, then the
    /// connection manager's field (which wins over HTTP/2's deprecated one).
    @Test("with stream_error_on_invalid_http_message, malformed request header blocks and trailers are reset with PROTOCOL_ERROR; well-formed ones on the same connection are answered",
          arguments: ["http2_protocol_options: {override_stream_error_on_invalid_http_message: true}",
                      "stream_error_on_invalid_http_message: true",
                      "stream_error_on_invalid_http_message: true\nhttp2_protocol_options: {stream_error_on_invalid_http_messaging: false}"])
    func malformedRequestsReset(hcm: String) async throws {
        try await Self.with(hcm: hcm) { proxy in
            let base = [[":method", "GET"], [":scheme", "http"], [":authority", "a"], [":path", "/ok"]]
            func with(_ extra: [[String]]) -> [[String]] { base + extra }
            func replacing(_ name: String, _ value: String?) -> [[String]] {
                base.compactMap { $0[0] == name ? value.map { [name, $0] } : $0 }
            }
            // (what, headers, trailers, outcome, body sent as one DATA frame)
            let cases: [(String, [[String]], [[String]]?, String, String?)] = [
                ("upper-case name", with([["X-Upper", "1"]]), nil, "reset", nil),
                ("space in a name", with([["x a", "1"]]), nil, "reset", nil),
                ("connection", with([["connection", "keep-alive"]]), nil, "reset", nil),
                ("keep-alive", with([["keep-alive", "5"]]), nil, "reset", nil),
                ("proxy-connection", with([["proxy-connection", "x"]]), nil, "reset", nil),
                ("transfer-encoding", with([["transfer-encoding", "chunked"]]), nil, "reset", nil),
                ("upgrade", with([["upgrade", "websocket"]]), nil, "reset", nil),
                ("te other than trailers", with([["te", "gzip"]]), nil, "reset", nil),
                ("CR in a value", with([["x-a", "a\rb"]]), nil, "reset", nil),
                ("LF in a value", with([["x-a", "a\nb"]]), nil, "reset", nil),
                ("NUL in a value", with([["x-a", "a\u{0}b"]]), nil, "reset", nil),
                ("no :path", replacing(":path", nil), nil, "reset", nil),
                ("no :method", replacing(":method", nil), nil, "reset", nil),
                ("no :scheme", replacing(":scheme", nil), nil, "reset", nil),
                ("empty :path", replacing(":path", ""), nil, "reset", nil),
                ("space in :path", replacing(":path", "/a b"), nil, "reset", nil),
                ("fragment in :path", replacing(":path", "/ok#f"), nil, "400", nil),
                ("pseudo-header after a regular one", [[":method", "GET"], [":scheme", "http"], ["x-a", "1"], [":path", "/"]],
                 nil, "reset", nil),
                ("unknown pseudo-header", with([[":foo", "bar"]]), nil, "reset", nil),
                ("duplicate :path", [[":path", "/a"]] + base, nil, "reset", nil),
                (":status in a request", [[":status", "200"]] + base, nil, "reset", nil),
                (":protocol without extended CONNECT", [[":protocol", "websocket"]] + replacing(":method", "CONNECT"),
                 nil, "reset", nil),
                ("CONNECT with :path", [[":method", "CONNECT"], [":authority", "a:443"], [":path", "/"]], nil, "reset", nil),
                ("pseudo-header in trailers", base, [[":path", "/x"]], "reset", nil),
                ("connection in trailers", base, [["connection", "close"]], "reset", nil),
                ("upper-case name in trailers", base, [["X-T", "1"]], "reset", nil),
                ("te: trailers", with([["te", "trailers"], ["cookie", "a=1"], ["cookie", "b=2"]]), nil, "200", nil),
                ("trailers", base, [["x-checksum", "1"]], "200", nil),
                ("CONNECT", [[":method", "CONNECT"], [":authority", "a:443"]], nil, "404", nil),
                ("value with obs-text, tab and space", with([["x-a", "caf\u{e9} \t x"]]), nil, "200", nil),
                ("content-length not a number", with([["content-length", "abc"]]), nil, "reset", "abc"),
                ("content-length as a list", with([["content-length", "3, 3"]]), nil, "reset", "abc"),
                ("two different content-lengths", with([["content-length", "3"], ["content-length", "4"]]), nil, "reset", "abc"),
                ("content-length without the body", with([["content-length", "5"]]), nil, "reset", nil),
                ("a body longer than content-length", with([["content-length", "2"]]), nil, "reset", "abc"),
                ("a body shorter than content-length", with([["content-length", "4"]]), nil, "reset", "abc"),
                ("trailers before content-length is reached", with([["content-length", "4"]]), [["x-t", "1"]], "reset", "abc"),
                ("a body as long as content-length", with([["content-length", "3"]]), nil, "200", "abc"),
                ("the same content-length twice", with([["content-length", "3"], ["content-length", "3"]]), nil, "200", "abc"),
            ]
            let json = try JSONSerialization.data(withJSONObject: cases.map { c -> [String: Any] in
                var object: [String: Any] = ["headers": c.1]
                if let trailers = c.2 { object["trailers"] = trailers }
                if let data = c.4 { object["data"] = data }
                return object
            })
            let report = try await H2Client.run("malformed", port: proxy.port, [String(decoding: json, as: UTF8.self)])
            #expect(report.goaway == nil && report.closed != true, "\(report)")
            for (i, c) in cases.enumerated() {
                let stream = report.streams?[String(1 + 2 * i)]
                let outcome = stream?.reset.map { $0 == 1 ? "reset" : "reset \($0)" } ?? stream?.status ?? "nothing"
                #expect(outcome == c.3, "\(c.0): \(stream.map { "\($0)" } ?? "no answer")")
            }
            // A malformed head never reaches the router; bad trailers or a body that breaks its
            // content-length end a request already routed.
            let resetAfterRouting: Set = ["pseudo-header in trailers", "connection in trailers", "upper-case name in trailers",
                                          "a body longer than content-length", "a body shorter than content-length",
                                          "trailers before content-length is reached"]
            let routed = cases.filter { $0.3 != "reset" || resetAfterRouting.contains($0.0) }.count
            #expect(try await proxy.stat(Self.stat + "downstream_rq_total") == routed)
            #expect(try await proxy.stat("http2.rx_messaging_error") == cases.filter { $0.3 == "reset" }.count)
        }
    }

    @Test("by default, as in Envoy, a malformed request closes its connection with GOAWAY PROTOCOL_ERROR, and a request in flight on it is reset; HTTP/2's override wins over the connection manager's field",
          arguments: ["", "stream_error_on_invalid_http_message: true\nhttp2_protocol_options: {override_stream_error_on_invalid_http_message: false}"])
    func malformedRequestClosesConnection(hcm: String) async throws {
        try await Self.with(hcm: hcm) { proxy in
            let good = [[":method", "GET"], [":scheme", "http"], [":authority", "a"], [":path", "/delay/3000"]]
            let bad = [[":method", "GET"], [":scheme", "http"], [":authority", "a"], [":path", "/ok"], ["connection", "close"]]
            let json = try JSONSerialization.data(withJSONObject: [["headers": good], ["headers": bad]])
            let report = try await H2Client.run("malformed", port: proxy.port, [String(decoding: json, as: UTF8.self)])
            #expect(report.goaway?.error == 1 && report.goaway?.last_stream == 3, "\(report)")
            // Closed before the delayed request's answer could come: it was reset, not waited for.
            #expect(report.closed == true && report.streams?["1"]?.status == nil, "\(report)")
            #expect(try await proxy.stat("http2.rx_messaging_error") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_protocol_error") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_rq_total") == 1)
        }
    }

    @Test("a connection error SwiftNIO finds (DATA on an idle stream) is answered with a GOAWAY the client reads before the close")
    func connectionErrorGoAwayArrives() async throws {
        try await Self.with { proxy in
            // DATA, 1 byte, END_STREAM, on stream 5, which was never opened (RFC 9113 §5.1).
            let report = try await H2Client.run("frames", port: proxy.port, ["raw", "000001000100000005" + "61"])
            #expect(report.closed == true && report.frame_types?.contains(7) == true, "\(report)")
            #expect(try await proxy.stat(Self.stat + "downstream_cx_protocol_error") == 1)
        }
    }

    @Test("a client's RST_STREAM ends the stream as a downstream reset; the connection goes on")
    func clientReset() async throws {
        try await Self.with { proxy in
            let report = try await H2Client.run("reset", port: proxy.port, ["/bytes/8388608"])
            #expect(report.streams?["1"]?.status == "200")
            let counted = try await Support.eventually { try await proxy.stat(Self.stat + "downstream_rq_rx_reset") == 1 }
            #expect(counted)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_destroy") == 1)
        }
    }

    @Test("connection_keepalive PINGs a silent client and closes the connection when no answer comes")
    func keepalive() async throws {
        try await Self.with(hcm: "http2_protocol_options: {connection_keepalive: {interval: 0.3s, timeout: 0.3s}}") { proxy in
            let report = try await H2Client.run("silent", port: proxy.port, ["3"])
            #expect(report.frame_types?.contains(6) == true, "\(report)")  // PING
            #expect(report.closed == true)
            #expect(try await proxy.stat("http2.keepalive_timeout") == 1)
            // A client that never answers PINGs but keeps sending frames is alive: each frame
            // restarts the wait for the answer, as in Envoy.
            let busy = try await H2Client.run("busy", port: proxy.port, ["2", "/direct"])
            #expect(busy.frame_types?.contains(6) == true && busy.closed != true, "\(busy)")
            #expect(try await proxy.stat("http2.keepalive_timeout") == 1)
        }
    }

    @Test("PRIORITY and WINDOW_UPDATE floods close the connection and count http2.*_flood, at Envoy's limits")
    func inboundFloods() async throws {
        let hcm = "http2_protocol_options: {max_inbound_priority_frames_per_stream: 3}"
        try await Self.with(hcm: hcm) { proxy in
            // No stream opened yet: 3 × (1 + 0) PRIORITY frames are allowed, and 5 WINDOW_UPDATEs.
            let calm = try await H2Client.run("frames", port: proxy.port, ["priority", "3"])
            #expect(calm.closed != true, "\(calm)")
            let priority = try await H2Client.run("frames", port: proxy.port, ["priority", "4"])
            #expect(priority.closed == true, "\(priority)")
            let updates = try await H2Client.run("frames", port: proxy.port, ["window", "5"])
            #expect(updates.closed != true, "\(updates)")
            let flood = try await H2Client.run("frames", port: proxy.port, ["window", "6"])
            #expect(flood.closed == true, "\(flood)")
            #expect(try await proxy.stat("http2.inbound_priority_frames_flood") == 1)
            #expect(try await proxy.stat("http2.inbound_window_update_frames_flood") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_protocol_error") == 0)
        }
    }

    @Test("a client that sends requests but reads no answers is closed once max_outbound_frames wait for its socket")
    func outboundFlood() async throws {
        // 4 KiB answers: after the sockets' buffers fill, they wait in the proxy.
        let body = String(repeating: "x", count: 4096)
        let routes = """
            - match: {prefix: /}
              direct_response: {status: 200, body: {inline_string: "\(body)"}}
            """
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: routes, clusters: [], hcmExtra: "http2_protocol_options: {max_outbound_frames: 1000}")
        }) { proxy, _ in
            // A client that reads: 20 batches of 200 requests, 400 frames at a time, no flood.
            // (A loaded machine can make these round trips slow: a generous timeout.)
            let reader = try await H2Client.run("pipeline", port: proxy.port, ["/", "20", "200", "read"], timeout: 120)
            #expect(reader.ended == 4000 && reader.closed != true, "\(reader.ended ?? 0) of 4000 answers")
            // As many requests from a client that reads nothing.
            let staller = try await H2Client.run("pipeline", port: proxy.port, ["/", "40", "100", "stall"], timeout: 120)
            #expect(staller.closed == true, "\(staller)")
            #expect(try await proxy.stat("http2.outbound_flood") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_destroy_local") == 1)
        }
    }

    @Test("over TLS, ALPN h2 picks HTTP/2 and http/1.1 picks HTTP/1.1")
    func alpn() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TLSFixture.bootstrap(tls: fixture.downstream(common: "alpn_protocols: [h2, http/1.1]"), routes: Self.routes,
                                 clusters: [("backend", [ports[0]])])
        }) { proxy, _ in
            let url = "https://localhost:\(proxy.port)/direct"
            let h2 = try await fixture.curl(url, ["--http2", "-w", "\n%{http_version}"])
            #expect(h2.status == 200 && h2.body.hasSuffix("\n2"), "\(h2.body) \(h2.stderr)")
            let h1 = try await fixture.curl(url, ["--http1.1", "-w", "\n%{http_version}"])
            #expect(h1.status == 200 && h1.body.hasSuffix("\n1.1"), "\(h1.body)")
            #expect(try await proxy.stat(Self.stat + "downstream_cx_http2_total") == 1)
            #expect(try await proxy.stat(Self.stat + "downstream_cx_http1_total") == 1)
        }
    }
}
