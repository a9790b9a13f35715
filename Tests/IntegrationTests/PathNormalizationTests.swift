import FerryTestKit
import Testing

/// `normalize_path`, `merge_slashes` and `path_with_escaped_slashes_action` end to end: the
/// route that matched and the path the upstream received are the same path, so a request
/// cannot match one route and reach the upstream as another (`/public/../admin` must be
/// routed, and forwarded, as `/admin`). Requests go out as raw bytes: curl would squash the
/// dot segments itself.
///
/// Every probe's answer was checked against Envoy 1.40 with the same config and bytes.
@Suite("Hardening: path normalization end to end")
struct PathNormalizationTests {
    /// Three routes that add `x-route`, so the upstream's echo names the route that matched.
    static let routes = """
        - match: {prefix: "/admin"}
          route: {cluster: backend}
          request_headers_to_add: [{header: {key: x-route, value: admin}}]
        - match: {prefix: "/public"}
          route: {cluster: backend}
          request_headers_to_add: [{header: {key: x-route, value: public}}]
        - match: {prefix: "/"}
          route: {cluster: backend}
          request_headers_to_add: [{header: {key: x-route, value: other}}]
        """

    static func run(action: String? = nil, _ body: (ProxyHarness, AccessLogFile) async throws -> Void) async throws {
        var hcm = "normalize_path: true\nmerge_slashes: true\n"
        if let action { hcm += "path_with_escaped_slashes_action: \(action)\n" }
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(
                upstreams: ["backend"],
                yaml: { ports in
                    TestConfig.bootstrap(
                        routes: routes, clusters: [("backend", [ports[0]])], hcmExtra: hcm + log.yaml())
                }
            ) { proxy, _ in try await body(proxy, log) }
        }
    }

    /// "route → upstream path" as the upstream saw it, or "status N" for a local reply.
    static func probe(_ proxy: ProxyHarness, _ target: String) async throws -> String {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
            guard let response = await connection.responses(1).first else { return "no response" }
            guard response.status == 200, let echo = try? EchoReply(response.bodyText) else {
                return "status \(response.status)"
            }
            return "\(echo.header("x-route") ?? "-") → \(echo.path)"
        }
    }

    static func expect(
        _ proxy: ProxyHarness, _ expected: KeyValuePairs<String, String>,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var actual: [String] = []
        for (target, _) in expected { actual.append("\(target): \(try await probe(proxy, target))") }
        #expect(actual == expected.map { "\($0.key): \($0.value)" }, sourceLocation: sourceLocation)
    }

    @Test("dot segments, ..; and merged slashes are resolved before routing and forwarded resolved")
    func dotSegments() async throws {
        try await Self.run { proxy, _ in
            try await Self.expect(
                proxy,
                [
                    "/public/../admin": "admin → /admin",
                    "/public/./x": "public → /public/x",
                    "//admin//x": "admin → /admin/x",
                    "/a/../../admin": "admin → /admin",
                    "/public/..;/admin": "admin → /admin",
                    "/public/%2e%2e/admin": "admin → /admin",
                    "/public\\..\\admin": "admin → /admin",
                    "/public/../admin?q=/public": "admin → /admin?q=/public",
                ])
        }
    }

    @Test("escaped slashes by default and with KEEP_UNCHANGED: %2F is not a separator for routing or upstream")
    func escapedSlashesKept() async throws {
        for action in [nil, "KEEP_UNCHANGED"] {
            try await Self.run(action: action) { proxy, _ in
                try await Self.expect(
                    proxy,
                    [
                        "/public%2F..%2Fadmin": "public → /public%2F..%2Fadmin",
                        "/public/..%2fadmin": "public → /public/..%2fadmin",
                        "/admin%2Fx": "admin → /admin%2Fx",
                    ])
            }
        }
    }

    @Test("UNESCAPE_AND_FORWARD: %2F and %5C are unescaped, then normalized, then routed and forwarded")
    func escapedSlashesForwarded() async throws {
        try await Self.run(action: "UNESCAPE_AND_FORWARD") { proxy, _ in
            try await Self.expect(
                proxy,
                [
                    "/public%2F..%2Fadmin": "admin → /admin",
                    "/public/..%2fadmin": "admin → /admin",
                    "/admin%2Fx": "admin → /admin/x",
                    "/public%5C..%5Cadmin": "admin → /admin",
                ])
        }
    }

    @Test("UNESCAPE_AND_REDIRECT: 307 to the normalized path with the query kept; nothing is forwarded")
    func escapedSlashesRedirected() async throws {
        try await Self.run(action: "UNESCAPE_AND_REDIRECT") { proxy, _ in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /public%2F..%2Fadmin?q=1 HTTP/1.1\r\nHost: a\r\n\r\n")
                let response = try #require(await connection.responses(1).first)
                #expect(response.status == 307)
                #expect(response.header("location") == "/admin?q=1")
                #expect(response.header("content-length") == "0")
            }
            #expect(await proxy.localStat("cluster.backend.upstream_rq_total") == 0)
        }
    }

    @Test("REJECT_REQUEST: 400 and close; nothing is forwarded")
    func escapedSlashesRejected() async throws {
        try await Self.run(action: "REJECT_REQUEST") { proxy, _ in
            for target in ["/public%2F..%2Fadmin", "/admin%2fx", "/public%5C..%5Cadmin"] {
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n" + Hardening.smuggled)
                    #expect(await connection.waitForClose())
                    let responses = WireResponse.parseAll(connection.received, closed: true)
                    #expect(responses.map(\.status) == [400], "\(target)")
                    #expect(responses.first?.header("connection") == "close")
                }
            }
            #expect(await proxy.localStat("cluster.backend.upstream_rq_total") == 0)
            #expect(await proxy.localStat("http.ingress_http.downstream_rq_failed_path_normalization") == 3)
            #expect(try await Self.probe(proxy, "/admin/x") == "admin → /admin/x")
        }
    }

    @Test(
        "REJECT_REQUEST answers as Envoy 1.40: an empty body and no response flag")
    func escapedSlashesRejectedLikeEnvoy() async throws {
        try await Self.run(action: "REJECT_REQUEST") { proxy, log in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /admin%2Fx HTTP/1.1\r\nHost: a\r\n\r\n")
                let response = try #require(await connection.responses(1).first)
                #expect(response.status == 400)
                #expect(response.header("content-length") == "0")
                #expect(response.body.isEmpty)
            }
            let lines = await log.waitForLines(1)
            #expect(lines.first?.hasPrefix("400 - path_normalization_failed") == true, "\(lines)")
        }
    }
}
