import FerryTestKit
import Testing

/// The `route` action: cluster choice (name, request header, weights) and the rewrites the
/// upstream sees (path, Host).
@Suite("Route actions")
struct RouteActionTests {
    @Test("cluster_header picks the cluster named by the header; a missing header or unknown name answers 503 NC")
    func clusterHeader() async throws {
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(
                upstreams: ["alpha", "beta"],
                yaml: { ports in
                    TestConfig.bootstrap(
                        routes: "- match: {prefix: \"/\"}\n  route: {cluster_header: x-target}",
                        clusters: [("alpha", [ports[0]]), ("beta", [ports[1]])], hcmExtra: log.yaml())
                }
            ) { proxy, _ in
                #expect(
                    try await Support.get(proxy, "/", headers: ["x-target": "beta"]).header("x-echo-name") == "beta")
                #expect(
                    try await Support.get(proxy, "/", headers: ["x-target": "alpha"]).header("x-echo-name") == "alpha")
                let missing = try await Support.get(proxy, "/")
                #expect(missing.status == 503)
                #expect(missing.body == "")
                #expect(missing.header("content-length") == "0")
                let unknown = try await Support.get(proxy, "/", headers: ["x-target": "gamma"])
                #expect(unknown.status == 503)
                let lines = await log.waitForLines(4)
                #expect(
                    lines == [
                        "200 - via_upstream", "200 - via_upstream", "503 NC cluster_not_found",
                        "503 NC cluster_not_found",
                    ])
            }
        }
    }

    @Test("cluster_not_found_response_code NOT_FOUND answers 404 when the header names no cluster")
    func clusterNotFoundCode() async throws {
        try await ProxyHarness.with(
            upstreams: ["alpha"],
            yaml: { ports in
                let route = "route: {cluster_header: x-target, cluster_not_found_response_code: NOT_FOUND}"
                return TestConfig.bootstrap(
                    routes: "- match: {prefix: \"/\"}\n  " + route, clusters: [("alpha", [ports[0]])])
            }
        ) { proxy, _ in
            #expect(try await Support.get(proxy, "/", headers: ["x-target": "alpha"]).status == 200)
            let missing = try await Support.get(proxy, "/")
            #expect(missing.status == 404)
            #expect(missing.body == "")
            #expect(try await Support.get(proxy, "/", headers: ["x-target": "nope"]).status == 404)
        }
    }

    @Test("weighted_clusters 80/20 splits 1000 requests within 6 standard deviations (±76) of 800/200")
    func weightedClusters() async throws {
        let routes = """
            - match: {prefix: "/"}
              route:
                weighted_clusters:
                  clusters:
                  - {name: heavy, weight: 80}
                  - {name: light, weight: 20}
            """
        try await ProxyHarness.with(
            upstreams: ["heavy", "light"],
            yaml: { ports in
                TestConfig.bootstrap(routes: routes, clusters: [("heavy", [ports[0]]), ("light", [ports[1]])])
            }
        ) { proxy, _ in
            let replies = try await Support.sequential(proxy.url("/"), count: 1000)
            #expect(replies.count == 1000)
            #expect(replies.allSatisfy { $0.status == 200 })
            let heavy = replies.filter { $0.value == "heavy" }.count
            let light = replies.filter { $0.value == "light" }.count
            // Binomial(1000, 0.8): sd = sqrt(1000 * 0.8 * 0.2) ≈ 12.6; a false failure has odds below 1e-8.
            #expect(heavy + light == 1000)
            #expect(abs(heavy - 800) <= 76, "heavy got \(heavy) of 1000")
            let counted = [
                try await proxy.stat("cluster.heavy.upstream_rq_total"),
                try await proxy.stat("cluster.light.upstream_rq_total"),
            ]
            #expect(counted == [heavy, light])
        }
    }

    @Test("prefix_rewrite replaces the matched prefix, keeps the query, and sends x-envoy-original-path")
    func prefixRewrite() async throws {
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/api/\"}", to: "backend", extra: "prefix_rewrite: \"/v2/\"")
                        + Support.forward("{prefix: \"/strip\"}", to: "backend", extra: "prefix_rewrite: \"/\""),
                    clusters: [("backend", [ports[0]])])
            }
        ) { proxy, _ in
            let echo = try await EchoReply(Support.get(proxy, "/api/users/7?full=1").body)
            #expect(echo.path == "/v2/users/7?full=1")
            #expect(echo.values("x-envoy-original-path") == ["/api/users/7?full=1"])
            let stripped = try await EchoReply(Support.get(proxy, "/strip/inner").body)
            #expect(stripped.path == "//inner")
            #expect(stripped.header("x-envoy-original-path") == "/strip/inner")
        }
    }

    @Test("regex_rewrite substitutes capture groups (\\1, \\2) into the path and keeps the query")
    func regexRewrite() async throws {
        let routes = """
            - match: {prefix: "/svc/"}
              route:
                cluster: backend
                regex_rewrite: {pattern: {regex: "^/svc/([^/]+)/(.*)$"}, substitution: "/\\\\2/from-\\\\1"}
            - match: {prefix: "/same"}
              route:
                cluster: backend
                regex_rewrite: {pattern: {regex: "^/nothing-matches$"}, substitution: "/x"}
            """
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])])
            }
        ) { proxy, _ in
            let echo = try await EchoReply(Support.get(proxy, "/svc/users/list/all?x=1").body)
            #expect(echo.path == "/list/all/from-users?x=1")
            #expect(echo.header("x-envoy-original-path") == "/svc/users/list/all?x=1")
            // When the regex does not match, the path is unchanged and no original path is sent.
            let same = try await EchoReply(Support.get(proxy, "/same/path").body)
            #expect(same.path == "/same/path")
            #expect(same.header("x-envoy-original-path") == nil)
        }
    }

    @Test("host_rewrite_literal replaces Host; without a rewrite the client's Host passes through")
    func hostRewriteLiteral() async throws {
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward(
                        "{prefix: \"/lit\"}", to: "backend", extra: "host_rewrite_literal: rewritten.example")
                        + Support.forward("{prefix: \"/\"}", to: "backend"),
                    clusters: [("backend", [ports[0]])])
            }
        ) { proxy, _ in
            let rewritten = try await EchoReply(Support.get(proxy, "/lit", host: "client.example").body)
            #expect(rewritten.values("host") == ["rewritten.example"])
            let kept = try await EchoReply(Support.get(proxy, "/", host: "client.example:8080").body)
            #expect(kept.values("host") == ["client.example:8080"])
        }
    }

    @Test("auto_host_rewrite sends the endpoint's hostname (STATIC hostname field, STRICT_DNS name)")
    func autoHostRewrite() async throws {
        try await ProxyHarness.with(
            upstreams: ["static", "dns"],
            yaml: { ports in
                let clusters =
                    TestConfig.cluster("named", endpoints: [.init(port: ports[0], hostname: "backend.internal")])
                    + TestConfig.cluster(
                        "resolved", type: "STRICT_DNS", endpoints: [.init(address: "upstream.test", port: ports[1])])
                    + TestConfig.cluster("plain", endpoints: [.init(port: ports[0])])
                return TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/named\"}", to: "named", extra: "auto_host_rewrite: true")
                        + Support.forward("{prefix: \"/resolved\"}", to: "resolved", extra: "auto_host_rewrite: true")
                        + Support.forward("{prefix: \"/plain\"}", to: "plain", extra: "auto_host_rewrite: true"),
                    clusters: [], extraClusters: clusters)
            }, hostOverrides: ["upstream.test": ["127.0.0.1"]]
        ) { proxy, _ in
            let ready = try await Support.eventually {
                try await proxy.stat("cluster.resolved.membership_healthy") == 1
            }
            #expect(ready)
            let named = try await EchoReply(Support.get(proxy, "/named", host: "client.example").body)
            #expect(named.values("host") == ["backend.internal"])
            let resolved = try await EchoReply(Support.get(proxy, "/resolved", host: "client.example").body)
            #expect(resolved.values("host") == ["upstream.test"])
            // A STATIC endpoint without a hostname leaves Host alone.
            let plain = try await EchoReply(Support.get(proxy, "/plain", host: "client.example").body)
            #expect(plain.values("host") == ["client.example"])
        }
    }
}
