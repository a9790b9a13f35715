import FerryTestKit
import Foundation
import NIOCore
import Testing

/// HTTP/1 clients (curl) → Ferry → real HTTP/2 upstreams (`H2EchoServer`, nghttpd): the
/// multiplexed pool, GOAWAY, REFUSED_STREAM, flow control and trailers.
@Suite("HTTP/2 upstreams")
struct HTTP2UpstreamTests {
    /// `typed_extension_protocol_options` asking for HTTP/2 with `http2` fields.
    static func http2Options(_ http2: String = "{}", common: String? = nil) -> String {
        """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            explicit_http_config: {http2_protocol_options: \(http2)}
        """ + (common.map { "\n    common_http_protocol_options: \($0)" } ?? "")
    }

    static func run(_ server: H2EchoServer, http2: String = "{}", common: String? = nil, routeExtra: String = "",
                    hcmExtra: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2", extra: routeExtra),
                                        clusters: [("h2", [server.port])], hcmExtra: hcmExtra,
                                        clusterExtra: http2Options(http2, common: common))
        let proxy = try await ProxyHarness.start(yaml: yaml)
        try await withCleanup { try await body(proxy) } cleanup: { await proxy.stop() }
    }

    /// A server that refuses its first stream with REFUSED_STREAM, behind a route retrying once on refused-stream.
    static func refusingFirstStream(_ body: @escaping (H2EchoServer, ProxyHarness) async throws -> Void) async throws {
        var options = H2EchoServer.Options()
        options.refuseFirst = 1
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server, routeExtra: "retry_policy: {retry_on: refused-stream, num_retries: 1}") { proxy in
                try await body(server, proxy)
            }
        }
    }

    /// `count` GETs at once; their replies in order.
    static func concurrent(_ count: Int, _ url: String) async throws -> [Curl.Result] {
        try await withThrowingTaskGroup(of: (Int, Curl.Result).self) { group in
            for i in 0..<count { group.addTask { (i, try await Curl.fetch(url + "?n=\(i)")) } }
            var results = [Curl.Result?](repeating: nil, count: count)
            for try await (i, result) in group { results[i] = result }
            return results.compactMap { $0 }
        }
    }

    @Test("an HTTP/1 request reaches the upstream as HTTP/2 with :authority and :scheme, hop-by-hop fields dropped")
    func requestMapping() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let result = try await Curl.fetch(["-H", "Host: example.com", "-H", "TE: trailers", "-H", "x-custom: 1",
                                                   proxy.url("/a/b?q=1")])
                #expect(result.status == 200)
                let reply = try H2EchoReply(result.body)
                #expect(reply.protocol == "HTTP/2")
                #expect(reply.authority == "example.com")
                #expect(reply.scheme == "http")
                #expect(reply.path == "/a/b?q=1")
                #expect(reply.header("x-custom") == "1")
                #expect(reply.header("host") == nil && reply.header("connection") == nil)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http2_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http1_total") == 0)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_200") == 1)
            }
        }
    }

    @Test("credentials reach an HTTP/2 upstream never indexed, one-off values not indexed (RFC 7541 §7.1, as nghttp2)")
    func hpackIndexing() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let longCookie = "session=" + String(repeating: "c", count: 24)
                let first = try await Curl.fetch(["-H", "Authorization: Bearer secret", "-H", "Cookie: id=7",
                                                  "-H", "Proxy-Authorization: Basic eA==", "-H", "x-plain: 1",
                                                  "-H", "If-None-Match: \"v1\"", proxy.url("/a?q=1")])
                #expect(first.status == 200)
                let reply = try H2EchoReply(first.body)
                #expect(reply.representation(of: "authorization") == "never-indexed")
                #expect(reply.representation(of: "proxy-authorization") == "never-indexed")
                #expect(reply.representation(of: "cookie") == "never-indexed")
                #expect(reply.representation(of: ":path") == "not-indexed")
                #expect(reply.representation(of: "if-none-match") == "not-indexed")
                #expect(reply.representation(of: "x-plain") == "indexed")
                #expect(reply.representation(of: ":authority") == "indexed")
                // A cookie of 20 bytes or more is too long to guess by probing the table.
                let second = try await Curl.fetch(["-H", "Cookie: \(longCookie)", proxy.url("/b")])
                #expect(try H2EchoReply(second.body).representation(of: "cookie") == "indexed")
                let huge = try await Curl.fetch(["-H", "x-huge: \(String(repeating: "h", count: 3_100))", proxy.url("/c")])
                #expect(try H2EchoReply(huge.body).representation(of: "x-huge") == "not-indexed")
            }
        }
    }

    @Test("a field an HTTP/2 client sent never-indexed reaches an HTTP/2 upstream never-indexed (RFC 7541 §7.1.3)")
    func neverIndexedKept() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let report = try await H2Client.run("never-indexed", port: proxy.port, ["/k", "x-api-key=k1"])
                let reply = try H2EchoReply(report.body ?? "")
                #expect(reply.header("x-api-key") == "k1")
                #expect(reply.representation(of: "x-api-key") == "never-indexed")
                #expect(reply.representation(of: ":method") == "indexed")
            }
        }
    }

    @Test("a chunked HTTP/1 request body reaches the HTTP/2 upstream whole, without chunk framing")
    func chunkedBody() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let body = String(repeating: "x", count: 100_000)
                let result = try await Curl.fetch(["-H", "Transfer-Encoding: chunked", "--data-binary", body, proxy.url("/upload")])
                #expect(result.status == 200)
                let reply = try H2EchoReply(result.body)
                #expect(reply.bodyBytes == 100_000)
                #expect(reply.method == "POST")
                #expect(reply.header("transfer-encoding") == nil)
            }
        }
    }

    @Test("8 concurrent requests share one HTTP/2 connection as 8 streams")
    func multiplexing() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(400)
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let results = try await Self.concurrent(8, proxy.url("/m"))
                #expect(results.allSatisfy { $0.status == 200 })
                #expect(Set(try results.map { try H2EchoReply($0.body).connection }) == [1])
                #expect(server.connections == 1)
                #expect(server.streamsPerConnection == [1: 8])
                #expect(server.maxOpenStreamsOnAConnection > 1, "the streams were not concurrent")
                #expect(try await proxy.stat("cluster.h2.upstream_cx_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_total") == 8)
            }
        }
    }

    @Test("max_concurrent_streams 2: 6 concurrent requests open 3 connections")
    func configuredStreamLimit() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(500)
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server, http2: "{max_concurrent_streams: 2}") { (proxy) async throws in
                let results = try await Self.concurrent(6, proxy.url("/m"))
                #expect(results.allSatisfy { $0.status == 200 })
                #expect(server.connections == 3)
                #expect(server.maxOpenStreamsOnAConnection <= 2)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_total") == 3)
            }
        }
    }

    @Test("the peer's SETTINGS_MAX_CONCURRENT_STREAMS 2 is respected: 6 concurrent requests open 3 connections")
    func peerStreamLimit() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(500)
        options.maxConcurrentStreams = 2
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let results = try await Self.concurrent(6, proxy.url("/m"))
                #expect(results.allSatisfy { $0.status == 200 })
                #expect(server.connections == 3)
                #expect(server.maxOpenStreamsOnAConnection <= 2)
            }
        }
    }

    @Test("max_requests_per_connection 2: the third request opens a second connection")
    func maxRequestsPerConnection() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server, common: "{max_requests_per_connection: 2}") { (proxy) async throws in
                for _ in 0..<3 { #expect(try await Curl.fetch(proxy.url("/")).status == 200) }
                #expect(server.connections == 2)
                #expect(server.streamsPerConnection == [1: 2, 2: 1])
                #expect(try await proxy.stat("cluster.h2.upstream_cx_max_requests") == 1)
            }
        }
    }

    @Test("GOAWAY: the connection takes no new streams; later requests go to a new connection")
    func goAway() async throws {
        var options = H2EchoServer.Options()
        options.goAwayAfter = 2
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                for _ in 0..<4 { #expect(try await Curl.fetch(proxy.url("/")).status == 200) }
                #expect(server.connections == 2)
                #expect(server.streamsPerConnection == [1: 2, 2: 2])
            }
        }
    }

    @Test("GOAWAY leaves in-flight streams the server did not process refused; retry_on refused-stream sends them again")
    func goAwayRefusedInFlight() async throws {
        var options = H2EchoServer.Options()
        // The GOAWAY (naming the first stream) waits until all three streams are on the first
        // connection, however slowly the clients start: the second and third are unprocessed.
        options.goAwayFirstConnectionAtStreams = 3
        try await H2EchoServer.with(options) { (server) async throws in
            let retry = "retry_policy: {retry_on: refused-stream, num_retries: 3}"
            try await Self.run(server, routeExtra: retry) { (proxy) async throws in
                let results = try await Self.concurrent(3, proxy.url("/g"))
                #expect(results.map(\.status) == [200, 200, 200], "\(results.map(\.body))")
                #expect(server.connections == 2)
                #expect(server.streamsPerConnection == [1: 3, 2: 2])
                #expect(try await proxy.stat("cluster.h2.upstream_rq_retry") == 2)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_rx_reset") == 0)
            }
        }
    }

    @Test("a request written in the loop iteration that reads the peer's GOAWAY is refused before it is sent, and retried")
    func goAwayRacingNewStream() async throws {
        try await H2EchoServer.with { (server) async throws in
            let retry = "retry_policy: {retry_on: refused-stream, num_retries: 1}"
            try await Self.run(server, routeExtra: retry) { (proxy) async throws in
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n")
                    #expect(await connection.responses(1).first?.status == 200)
                    // The second request and the GOAWAY (naming the first stream) both wait
                    // in the proxy's sockets until one loop iteration reads them, the request
                    // first: the pool picks the connection, whose GOAWAY arrives before the
                    // request's HEADERS are flushed at the end of that iteration.
                    try await proxy.whileWorkerPaused {
                        try await connection.send("GET /second HTTP/1.1\r\nHost: h\r\n\r\n")
                        try await Task.sleep(for: .milliseconds(50))
                        try await server.sendGoAway(lastStreamID: 1)
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    let responses = await connection.responses(2)
                    #expect(responses.count == 2 && responses[1].status == 200, "\(connection.text)")
                }
                #expect(server.connections == 2)
                #expect(server.streamsPerConnection == [1: 1, 2: 1])
                #expect(try await proxy.stat("cluster.h2.upstream_rq_retry") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_protocol_error") == 0)
            }
        }
    }

    @Test("REFUSED_STREAM is retried under retry_on refused-stream")
    func refusedStreamRetried() async throws {
        try await Self.refusingFirstStream { server, proxy in
            let result = try await Curl.fetch(proxy.url("/r"))
            #expect(result.status == 200)
            #expect(server.streams == 2)
            #expect(try await proxy.stat("cluster.h2.upstream_rq_retry") == 1)
            // As Envoy's pool: a refused stream is not a remote reset in upstream_rq_rx_reset.
            #expect(try await proxy.stat("cluster.h2.upstream_rq_rx_reset") == 0)
        }
    }

    @Test("an h2 client's request trailers reach the HTTP/2 upstream after the body, on a retried attempt too")
    func requestTrailers() async throws {
        try await Self.refusingFirstStream { server, proxy in
            let report = try await H2Client.run("trailers", port: proxy.port, ["/t", "20000", "x-checksum=abc", "x-count=2"])
            #expect(report.streams?["1"]?.status == "200", "\(report)")
            let echo = try JSONSerialization.jsonObject(with: Data((report.body ?? "").utf8)) as? [String: Any]
            #expect(echo?["body_bytes"] as? Int == 20000)
            #expect(echo?["trailers"] as? [[String]] == [["x-checksum", "abc"], ["x-count", "2"]], "\(report.body ?? "")")
            #expect(server.streams == 2)
            #expect(try await proxy.stat("cluster.h2.upstream_rq_retry") == 1)
        }
    }

    @Test("REFUSED_STREAM without a retry policy: 503 UR with Envoy's reset reason")
    func refusedStreamNotRetried() async throws {
        var options = H2EchoServer.Options()
        options.refuseFirst = 1
        try await H2EchoServer.with(options) { (server) async throws in
            try await AccessLogFile.with { (log) async throws in
                try await Self.run(server, hcmExtra: log.yaml()) { (proxy) async throws in
                    let result = try await Curl.fetch(proxy.url("/r"))
                    #expect(result.status == 503)
                    #expect(result.body == "upstream connect error or disconnect/reset before headers. reset reason: remote refused stream reset")
                    let lines = await log.waitForLines(1)
                    #expect(lines.first == "503 UR upstream_reset_before_response_started{remote_refused_stream_reset}")
                }
            }
        }
    }

    @Test("response trailers from the HTTP/2 upstream reach the stream (access log), and the HTTP/1 client gets the body")
    func trailers() async throws {
        var options = H2EchoServer.Options()
        options.trailers = [("grpc-status", "0"), ("x-checksum", "abc")]
        try await H2EchoServer.with(options) { (server) async throws in
            try await AccessLogFile.with { (log) async throws in
                try await Self.run(server, hcmExtra: log.yaml(format: "%RESPONSE_CODE% %TRAILER(x-checksum)% %UPSTREAM_PROTOCOL%")) { (proxy) async throws in
                    let result = try await Curl.fetch(proxy.url("/t"))
                    #expect(result.status == 200)
                    #expect(try H2EchoReply(result.body).protocol == "HTTP/2")
                    #expect(result.header("x-checksum") == nil)
                    #expect(await log.waitForLines(1).first == "200 abc HTTP/2")
                }
            }
        }
    }

    @Test("an upstream that does not read the body stops the client being read: memory stays bounded, nothing is lost")
    func backpressure() async throws {
        var options = H2EchoServer.Options()
        options.stallBodies = true
        let chunk = [UInt8](repeating: 0x61, count: 256 * 1024)
        let chunks = 64  // 16 MiB
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server) { (proxy) async throws in
                let client = try await RawConnection.connect(port: proxy.port)
                let head = "POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: \(chunk.count * chunks)\r\n\r\n"
                try await client.send(Array(head.utf8))
                let (sent, writer) = SharedCount.sending(chunk, times: chunks, on: client)
                try await withCleanup {
                    try await sent.waitUntilStalled()
                    let read = try #require(try await proxy.stat("http.ingress_http.downstream_cx_rx_bytes_total"))
                    #expect(sent.current < chunk.count * chunks, "the client was never held back")
                    #expect(read < 8 * 1024 * 1024, "the proxy read \(read) bytes for an upstream that reads nothing")
                    server.startReading()
                    try await writer.value
                    let all = await Support.eventually(timeout: .seconds(60)) { server.bodyBytesReceived == chunk.count * chunks }
                    #expect(all, "upstream read \(server.bodyBytesReceived) of \(chunk.count * chunks)")
                } cleanup: {
                    writer.cancel()
                    await client.close()
                }
            }
        }
    }

    @Test("connect failure to an HTTP/2 cluster is 503 UF, as for HTTP/1")
    func connectFailure() async throws {
        let dead = try FreePort.dead()
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [dead])],
                                        clusterExtra: Self.http2Options())
        let proxy = try await ProxyHarness.start(yaml: yaml)
        try await withCleanup {
            let result = try await Curl.fetch(proxy.url("/"))
            #expect(result.status == 503)
            #expect(result.body.hasPrefix("upstream connect error or disconnect/reset before headers. reset reason: remote connection failure"))
            #expect(try await proxy.stat("cluster.h2.upstream_cx_connect_fail") == 1)
        } cleanup: {
            await proxy.stop()
        }
    }

    @Test("nghttpd (an independent HTTP/2 server) serves files through Ferry, concurrent requests on one connection")
    func nghttpd() async throws {
        let binary = try #require(ChildProcess.which("nghttpd") ?? (FileManager.default.isExecutableFile(atPath: "/usr/sbin/nghttpd")
            ? "/usr/sbin/nghttpd" : nil), "nghttpd is not installed (scripts/install-test-deps)")
        let root = try TemporaryDirectory.make(prefix: "nghttpd")
        defer { try? FileManager.default.removeItem(at: root) }
        let content = (0..<20_000).map { "line \($0)\n" }.joined()
        try content.write(to: root.appendingPathComponent("file.txt"), atomically: true, encoding: .utf8)
        let port = try FreePort.pick()
        try await ChildProcess.with(binary, ["--no-tls", "-a", "127.0.0.1", "-d", root.path, String(port)]) { (child) async throws in
            let listening = await Support.eventually {
                guard let probe = try? await RawConnection.connect(port: port) else { return false }
                await probe.close()
                return true
            }
            #expect(listening, "nghttpd did not start: \(child.stderr)")
            let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [port])],
                                            clusterExtra: Self.http2Options())
            let proxy = try await ProxyHarness.start(yaml: yaml)
            try await withCleanup {
                let results = try await Self.concurrent(6, proxy.url("/file.txt"))
                #expect(results.allSatisfy { $0.status == 200 && $0.body == content })
                #expect(try await Curl.fetch(proxy.url("/missing")).status == 404)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http2_total") == 1)
            } cleanup: {
                await proxy.stop()
            }
        }
    }

    @Test("REFUSED_STREAM without retries: Ferry answers as Envoy 1.40 does (status, body, flags, details, protocol, stats)")
    func refusedStreamLikeEnvoy() async throws {
        var options = H2EchoServer.Options()
        options.refuseFirst = 1
        /// Status, body, access log line and the reset counters one proxy shows.
        func observe(port: Int, admin: Int, log: AccessLogFile) async throws -> [String] {
            let result = try await Curl.fetch("http://127.0.0.1:\(port)/r")
            let line = await log.waitForLines(1).first ?? "no log line"
            let stats = try await ProxyHarness.admin("GET", "/stats", port: admin).body.split(separator: "\n")
            let resets = stats.filter { $0.hasPrefix("cluster.h2.upstream_rq_rx_reset:") || $0.hasPrefix("cluster.h2.upstream_rq_503:") }
            return [String(result.status), result.body, line] + resets.map(String.init).sorted()
        }
        func yaml(_ server: H2EchoServer, _ log: AccessLogFile) -> String {
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [server.port])],
                                 hcmExtra: log.yaml(format: "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %UPSTREAM_PROTOCOL%"),
                                 clusterExtra: Self.http2Options())
        }
        let ferry = try await H2EchoServer.with(options) { (server) async throws in
            try await AccessLogFile.with { (log) async throws in
                let proxy = try await ProxyHarness.start(yaml: yaml(server, log))
                return try await withCleanup { try await observe(port: proxy.port, admin: proxy.adminPort, log: log) } cleanup: {
                    await proxy.stop()
                }
            }
        }
        let envoy = try await H2EchoServer.with(options) { (server) async throws in
            try await AccessLogFile.with { (log) async throws in
                try await EnvoyProcess.with(yaml: yaml(server, log)) { (envoy) async throws in
                    try await observe(port: envoy.port(of: "main"), admin: envoy.adminPort, log: log)
                }
            }
        }
        #expect(ferry == envoy)
        #expect(ferry.first == "503")
    }
}
