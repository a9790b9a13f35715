import FerryTestKit
import Foundation
import Testing

/// The same requests through the real Envoy 1.40 and through Ferry, on the same config
/// (`DifferentialConfig`) and the same echo upstreams: statuses, response headers, bodies and
/// what the upstream saw must agree. Values that differ between any two runs (dates, timings,
/// request ids) are replaced in `Observed`; the `server` header differs by design.
@Suite("Differential: Ferry answers as Envoy 1.40 does", .serialized)
struct DifferentialTests {
    static let host = ["-H", "Host: diff.test"]

    /// Well-formed requests a real client sends: (name, curl arguments, path).
    static let matrix: [(String, [String], String)] = [
        ("GET with a query", [], "/echo/get?x=1&y=two"),
        ("POST with a body", ["-d", "hello=1"], "/echo/post"),
        ("HEAD", ["-I"], "/echo/head"),
        ("chunked upload", ["-H", "Transfer-Encoding: chunked", "--data-binary", String(repeating: "c", count: 5000)],
         "/echo/chunked"),
        ("no route: 404 shaped by local_reply_config", [], "/nothing/here"),
        ("direct_response", [], "/direct"),
        ("redirect", [], "/redirect"),
        ("prefix_rewrite", [], "/rewrite/abc?q=1"),
        ("header add and remove", ["-H", "x-remove-me: 1", "-H", "x-keep: 2"], "/headers/x"),
        ("upstream 404 is passed through, not a local reply", [], "/status/404"),
        ("upstream 503 is passed through", [], "/status/503"),
        ("connect failure: 503 UF", [], "/dead"),
        ("route timeout: 504 UT", [], "/slow"),
        ("content-length download", [], "/bytes/70000"),
        ("chunked download", [], "/stream/20"),
    ]

    @Test("well-formed requests get the same status, response headers, body and upstream view from Ferry as from Envoy")
    func wellFormedMatrix() async throws {
        try await ProxyPair.with { pair in
            for (name, arguments, path) in Self.matrix {
                let (envoy, ferry) = try await pair.curl(Self.host + arguments, path: path)
                #expect(envoy.exitCode == 0 && ferry.exitCode == 0, "\(name): curl failed: \(envoy.stderr) \(ferry.stderr)")
                #expect(envoy.status != 0 && !envoy.headers.isEmpty, "\(name): Envoy did not answer")
                let ferryView = Observed(ferry), envoyView = Observed(envoy)
                #expect(ferryView == envoyView, Observed.explain(name, ferry: ferryView, envoy: envoyView))
            }
        }
    }

    @Test("the server header is Envoy's \"envoy\" and Ferry's \"ferry\", the only intended header difference")
    func serverHeader() async throws {
        try await ProxyPair.with { pair in
            let (envoy, ferry) = try await pair.curl(Self.host, path: "/direct")
            #expect(envoy.header("server") == "envoy")
            #expect(ferry.header("server") == "ferry")
        }
    }

    // Envoy (checked with 1.40) sends the upstream x-envoy-expected-rq-timeout-ms before the
    // route's request_headers_to_add; header order is visible to upstreams that log or sign it.
    @Test("the upstream receives the request headers in Envoy's order")
    func upstreamHeaderOrder() async throws {
        try await ProxyPair.with { pair in
            for path in ["/headers/x", "/echo/get", "/rewrite/a"] {
                let (envoy, ferry) = try await pair.curl(Self.host + ["-H", "x-remove-me: 1"], path: path)
                let envoyOrder = EchoView(envoy.body)?.orderedHeaders, ferryOrder = EchoView(ferry.body)?.orderedHeaders
                #expect(envoyOrder != nil)
                #expect(ferryOrder == envoyOrder, "\(path)")
            }
        }
    }

    /// Raw requests curl would not send: (name, bytes).
    static let malformed: [(String, String)] = [
        ("HTTP/1.0 without accept_http_10: 426", "GET /echo/x HTTP/1.0\r\nHost: diff.test\r\n\r\n"),
        ("HTTP/1.1 without Host: 400", "GET /echo/x HTTP/1.1\r\nUser-Agent: raw\r\n\r\n"),
        ("Content-Length together with Transfer-Encoding: 400",
         "POST /echo/x HTTP/1.1\r\nHost: diff.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5\r\nhello\r\n0\r\n\r\n"),
        ("an invalid header name: 400", "GET /echo/x HTTP/1.1\r\nHost: diff.test\r\nBad Header: 1\r\n\r\n"),
    ]

    @Test("malformed and HTTP/1.0 requests are refused with the same status, headers and body as Envoy")
    func malformedRequests() async throws {
        try await ProxyPair.with { pair in
            for (name, request) in Self.malformed {
                let (envoy, ferry) = try await pair.raw(request)
                #expect(envoy.status != 0 && !envoy.headers.isEmpty, "\(name): Envoy did not answer")
                let ferryView = Observed(ferry), envoyView = Observed(envoy)
                #expect(ferryView == envoyView, Observed.explain(name, ferry: ferryView, envoy: envoyView))
                #expect(ferry.header("connection") == "close", "\(name)")
            }
        }
    }

    @Test("weighted clusters split 200 requests about 80/20 through both proxies")
    func weightedClusters() async throws {
        try await ProxyPair.with { pair in
            var envoyCounts: [String: Int] = [:], ferryCounts: [String: Int] = [:]
            for _ in 0..<200 {
                let (envoy, ferry) = try await pair.curl(Self.host, path: "/split")
                envoyCounts[EchoView(envoy.body)?.fields["name"] ?? "none", default: 0] += 1
                ferryCounts[EchoView(ferry.body)?.fields["name"] ?? "none", default: 0] += 1
            }
            // Binomial(200, 0.8) has a standard deviation of 5.7; ±25 is more than 4 of them.
            for (proxy, counts) in [("Envoy", envoyCounts), ("Ferry", ferryCounts)] {
                #expect(Set(counts.keys) == ["echo", "echo_b"], "\(proxy): \(counts)")
                #expect((135...185).contains(counts["echo"] ?? 0), "\(proxy): \(counts)")
            }
        }
    }
}
