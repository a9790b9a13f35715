import FerryTestKit
import Testing

/// What an invalid HTTP/1.1 request costs its connection. Requests whose head the connection
/// manager refuses (no Host, a fragment in the target, a path that fails normalization) close
/// the connection by default; `stream_error_on_invalid_http_message` (or HTTP/1's override)
/// keeps it for the next request, as in Envoy 1.40. Malformed framing always closes: nothing
/// after it can be read reliably. Each outcome was checked against Envoy 1.40 with the same
/// bytes.
@Suite("Hardening: invalid HTTP/1 requests and stream_error_on_invalid_http_message")
struct InvalidHTTP1RequestTests {
    static let routes = """
        - match: {prefix: "/"}
          route: {cluster: backend}
        """

    static func with(hcm: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])],
                                 hcmExtra: "path_with_escaped_slashes_action: REJECT_REQUEST\n" + hcm)
        }) { proxy, _ in try await body(proxy) }
    }

    /// Sends each request followed by a well-formed one on its own connection, and expects the
    /// statuses answered and whether the connection was then closed.
    static func expect(_ proxy: ProxyHarness, _ requests: [(String, String)], statuses: [Int], closed: Bool,
                       sourceLocation: SourceLocation = #_sourceLocation) async throws {
        for (what, request) in requests {
            let (answered, wasClosed) = try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(request + "GET /next HTTP/1.1\r\nHost: a\r\n\r\n")
                _ = await connection.wait(timeout: .seconds(5)) { bytes, closed in
                    closed || WireResponse.parseAll(bytes, closed: false).count == 2
                }
                return (WireResponse.parseAll(connection.received, closed: connection.isClosed).map(\.status), connection.isClosed)
            }
            #expect(answered == statuses && wasClosed == closed, "\(what): \(answered), closed \(wasClosed)",
                    sourceLocation: sourceLocation)
        }
    }

    static let refusedByConnectionManager = [
        ("no Host", "GET /x HTTP/1.1\r\n\r\n"),
        ("a fragment", "GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n"),
        ("an escaped slash under REJECT_REQUEST", "GET /a%2Fb HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]
    static let malformedFraming = [
        ("a space in a header name", "GET /x HTTP/1.1\r\nHost: a\r\nx a: 1\r\n\r\n"),
        ("Content-Length with Transfer-Encoding", "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("a target without a slash", "GET abc HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]

    @Test("by default a request the connection manager refuses gets 400 and its connection closes; nothing is forwarded",
          arguments: ["", "stream_error_on_invalid_http_message: true\nhttp_protocol_options: {override_stream_error_on_invalid_http_message: false}"])
    func closesByDefault(hcm: String) async throws {
        try await Self.with(hcm: hcm) { proxy in
            try await Self.expect(proxy, Self.refusedByConnectionManager, statuses: [400], closed: true)
            #expect(try await proxy.stat("cluster.backend.upstream_rq_total") == 0)
            // The fragment and the escaped slash, as in Envoy.
            #expect(try await proxy.stat("http.ingress_http.downstream_rq_failed_path_normalization") == 2)
        }
    }

    @Test("stream_error_on_invalid_http_message (or HTTP/1's override) answers 400 and keeps the connection; malformed framing still closes it",
          arguments: ["stream_error_on_invalid_http_message: true", "http_protocol_options: {override_stream_error_on_invalid_http_message: true}"])
    func keepsConnection(hcm: String) async throws {
        try await Self.with(hcm: hcm) { proxy in
            try await Self.expect(proxy, Self.refusedByConnectionManager, statuses: [400, 200], closed: false)
            try await Self.expect(proxy, Self.malformedFraming, statuses: [400], closed: true)
            // Only the three well-formed requests after a refused one were forwarded.
            #expect(try await proxy.stat("cluster.backend.upstream_rq_total") == 3)
        }
    }
}
