import FerryTestKit
import Testing

/// Size limits through the real proxy: 431 past `max_request_headers_kb` (default 60) or
/// `common_http_protocol_options.max_headers_count` (default 100), 414 for a request line over
/// Ferry's limit, and what happens to a body larger than the one buffer Ferry keeps (the retry
/// buffer). Every refusal closes the connection and reaches no upstream.
///
/// Checked against Envoy 1.40 with the same configs: the counts and sizes at which Envoy
/// answers 431 are the ones below. Envoy has no request-line limit of its own: the request line
/// counts toward max_request_headers_kb and an over-long one gets 431 (Ferry: 414, see below).
@Suite("Hardening: header size and count limits, buffered bodies")
struct HeadSizeLimitTests {
    /// `GET /a` with `count` header fields in all (Host included).
    static func request(fields count: Int) -> String {
        "GET /a HTTP/1.1\r\nHost: a\r\n" + (1..<count).map { "x-h\($0): v\r\n" }.joined() + "\r\n"
    }

    static func request(uriBytes: Int = 1, headerBytes: Int = 0) -> String {
        let header = headerBytes > 0 ? "x-big: " + String(repeating: "b", count: headerBytes) + "\r\n" : ""
        return "GET /" + String(repeating: "a", count: uriBytes) + " HTTP/1.1\r\nHost: a\r\n" + header + "\r\n"
    }

    static let smallLimits = "max_request_headers_kb: 8\ncommon_http_protocol_options: {max_headers_count: 20}\n"

    /// Sends one valid request and expects the upstream's 200 on an open connection.
    static func expectAccepted(_ request: String, port: Int, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        try await RawConnection.with(port: port) { connection in
            try await connection.send(request)
            let response = await connection.responses(1, timeout: .seconds(5)).first
            #expect(response?.status == 200, "\(connection.text.prefix(200))", sourceLocation: sourceLocation)
            #expect(!connection.isClosed, sourceLocation: sourceLocation)
        }
    }

    @Test("default max_headers_count: 100 header fields pass, 101 get 431 and close")
    func defaultHeaderCount() async throws {
        try await Hardening.withRecordingUpstream { proxy, upstream, log in
            try await Hardening.expectRefused(
                Self.request(fields: 101), status: 431, proxy: proxy, upstream: upstream, log: log)
            try await Self.expectAccepted(Self.request(fields: 100), port: proxy.port)
        }
    }

    @Test("configured max_headers_count 20: 20 fields pass, 21 get 431 and close")
    func configuredHeaderCount() async throws {
        try await Hardening.withRecordingUpstream(hcmExtra: Self.smallLimits) { proxy, upstream, log in
            try await Hardening.expectRefused(
                Self.request(fields: 21), status: 431, proxy: proxy, upstream: upstream, log: log)
            try await Self.expectAccepted(Self.request(fields: 20), port: proxy.port)
        }
    }

    @Test("configured max_request_headers_kb 8: a 7000-byte header passes, a 9000-byte header gets 431 and close")
    func configuredHeaderBytes() async throws {
        try await Hardening.withRecordingUpstream(hcmExtra: Self.smallLimits) { proxy, upstream, log in
            try await Hardening.expectRefused(
                Self.request(headerBytes: 9000), status: 431, proxy: proxy, upstream: upstream, log: log)
            try await Self.expectAccepted(Self.request(headerBytes: 7000), port: proxy.port)
        }
    }

    // Ferry's request-line limit is max_request_headers_kb (HTTP1Parser.Limits.maxRequestLineBytes,
    // set in CompiledHCM). Over it Ferry answers 414, as RFC 9112 §3 asks; Envoy 1.40 answers 431
    // http1.headers_too_large for the same request.
    @Test("configured max_request_headers_kb 8: a 7000-byte URI passes, a 9000-byte request line gets 414 and close")
    func configuredRequestLine() async throws {
        try await Hardening.withRecordingUpstream(hcmExtra: Self.smallLimits) { proxy, upstream, log in
            try await Hardening.expectRefused(
                Self.request(uriBytes: 9000), status: 414, proxy: proxy, upstream: upstream, log: log)
            try await Self.expectAccepted(Self.request(uriBytes: 7000), port: proxy.port)
        }
    }

    @Test(
        "the request line counts toward max_request_headers_kb: a 5000-byte URI plus a 5000-byte header get 431 (limit 8 KB)")
    func requestLineCountsTowardLimit() async throws {
        try await Hardening.withRecordingUpstream(hcmExtra: Self.smallLimits) { proxy, upstream, log in
            try await Hardening.expectRefused(
                Self.request(uriBytes: 5000, headerBytes: 5000), status: 431, proxy: proxy, upstream: upstream, log: log
            )
        }
    }

    @Test(
        "default max_request_headers_kb 60: a 40 KB header, sent in one write, is forwarded")
    func defaultLimitAcceptsLargeHead() async throws {
        try await Hardening.withRecordingUpstream { proxy, _, _ in
            try await Self.expectAccepted(Self.request(headerBytes: 40_000), port: proxy.port)
        }
    }

    @Test(
        "default max_request_headers_kb 60: 62 KB of header fields get 431 and close")
    func defaultLimitRefusesOversizeHead() async throws {
        let fields = (0..<62).map { "x-h\($0): " + String(repeating: "v", count: 1000) + "\r\n" }.joined()
        try await Hardening.withRecordingUpstream { proxy, upstream, log in
            try await Hardening.expectRefused(
                "GET /a HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n", status: 431, proxy: proxy, upstream: upstream,
                log: log)
        }
    }

    /// A route retrying 5xx with a 1024-byte retry buffer, in front of an echo upstream.
    static func withRetryBuffer(_ body: (ProxyHarness) async throws -> Void) async throws {
        let routes = """
            - match: {prefix: "/"}
              route: {cluster: backend, retry_policy: {retry_on: "5xx", num_retries: 2}}
              per_request_buffer_limit_bytes: 1024
            """
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])])
            }
        ) { proxy, _ in try await body(proxy) }
    }

    // Ferry buffers a request body only for retries. Past per_request_buffer_limit_bytes Envoy
    // 1.40 gives up the retry and streams the body: no 413 (Envoy's router never answers 413;
    // that takes envoy.filters.http.buffer, which Ferry does not support yet). Ferry does the same.
    /// POSTs a body of `bytes` bytes to `path` on a fresh connection; the response, if any.
    static func post(_ proxy: ProxyHarness, _ path: String, bytes: Int) async throws -> WireResponse? {
        try await RawConnection.with(port: proxy.port) { connection in
            let head = "POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: \(bytes)\r\n\r\n"
            try await connection.send(head + String(repeating: "u", count: bytes))
            return await connection.responses(1).first
        }
    }

    @Test("a body over the retry buffer limit streams to the upstream without a 413 and is not retried")
    func bodyOverRetryBuffer() async throws {
        try await Self.withRetryBuffer { proxy in
            let small = try await Self.post(proxy, "/status/503", bytes: 5)
            #expect(small?.status == 503)
            #expect(await proxy.localStat("cluster.backend.upstream_rq_retry") == 2, "a small body is retried")
            let large = try #require(try await Self.post(proxy, "/status/503", bytes: 100_000))
            #expect(large.status == 503)
            #expect(try EchoReply(large.bodyText).bodyBytes == 100_000)
            let ok = try #require(try await Self.post(proxy, "/status/200", bytes: 100_000))
            #expect(ok.status == 200)
            #expect(try EchoReply(ok.bodyText).bodyBytes == 100_000)
            #expect(await proxy.localStat("cluster.backend.upstream_rq_retry") == 2, "the large body was retried")
            #expect(await proxy.localStat("cluster.backend.upstream_rq_total") == 5)
            #expect(await proxy.localStat("http.ingress_http.downstream_rq_too_large") == 0)
        }
    }

    @Test(
        "giving up a retry for the buffer limit counts cluster.<name>.retry_or_shadow_abandoned, as Envoy")
    func retryBufferAbandonedStat() async throws {
        try await Self.withRetryBuffer { proxy in
            _ = try await Self.post(proxy, "/status/503", bytes: 100_000)
            #expect(await proxy.localStat("cluster.backend.retry_or_shadow_abandoned") == 1)
        }
    }
}
