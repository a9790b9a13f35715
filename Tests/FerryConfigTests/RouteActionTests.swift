@testable import FerryConfig
import Testing

/// Route, redirect and direct_response actions.
@Suite("Route actions")
struct RouteActionTests {
    private func action(_ routes: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Route.Action? {
        Fixture.firstRoute(Fixture.load(Fixture.bootstrap(routes: routes), sourceLocation: sourceLocation))?.action
    }

    private func routeAction(
        _ fields: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> RouteAction? {
        let routes =
            "- match: {prefix: \"/\"}\n  route:\n"
            + fields.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        guard case .route(let action)? = action(routes, sourceLocation: sourceLocation) else { return nil }
        return action
    }

    @Test("weighted clusters keep names, weights and per-cluster headers")
    func weightedClusters() throws {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    weighted_clusters:
                      clusters:
                      - {name: backend, weight: 80, request_headers_to_add: [{header: {key: x-canary, value: "no"}}]}
                      - {name: canary, weight: 20, host_rewrite_literal: canary.local}
                """, clusters: Fixture.backendCluster + "\n- name: canary")
        guard case .route(let action)? = Fixture.firstRoute(Fixture.load(yaml))?.action,
            case .weighted(let weights) = action.cluster
        else {
            Issue.record("expected weighted clusters")
            return
        }
        #expect(weights.map(\.name) == ["backend", "canary"])
        #expect(weights.map(\.weight) == [80, 20])
        #expect(weights[0].requestHeaders.add.map(\.name) == ["x-canary"])
        #expect(weights[1].hostRewriteLiteral == "canary.local")
    }

    @Test("cluster_header names a lower-cased request header; pseudo-headers are refused")
    func clusterHeader() throws {
        guard case .header("x-cluster")? = routeAction("cluster_header: X-Cluster")?.cluster else {
            Issue.record("expected a cluster header")
            return
        }
        let yaml = Fixture.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster_header: \":authority\"}")
        Fixture.expectOneError(
            yaml, at: "\":authority\"", path: "\(Fixture.route(0)).route.cluster_header",
            message: "must name a regular header, not a pseudo-header")
    }

    @Test("prefix_rewrite, regex_rewrite and the host rewrites decode")
    func rewrites() throws {
        let prefix = try #require(
            routeAction("cluster: backend\nprefix_rewrite: /v2/\nhost_rewrite_literal: api.internal"))
        #expect(prefix.prefixRewrite == "/v2/")
        guard case .literal("api.internal")? = prefix.hostRewrite else {
            Issue.record("expected a literal host rewrite")
            return
        }
        let regex = try #require(
            routeAction(
                """
                cluster: backend
                regex_rewrite: {pattern: {regex: "^/service/([^/]+)(/.*)$"}, substitution: "\\\\2/instance/\\\\1"}
                auto_host_rewrite: true
                append_x_forwarded_host: true
                """))
        let rewrite = try #require(regex.regexRewrite)
        #expect(rewrite.regex.pattern == "^/service/([^/]+)(/.*)$")
        #expect(rewrite.substitution == "\\2/instance/\\1")
        #expect(rewrite.regex.wholeMatch("/service/foo/v1/api"))
        guard case .auto? = regex.hostRewrite else {
            Issue.record("expected auto_host_rewrite")
            return
        }
        #expect(regex.appendXForwardedHost)
        let header = try #require(routeAction("cluster: backend\nhost_rewrite_header: X-Host"))
        guard case .header("x-host")? = header.hostRewrite else {
            Issue.record("expected a header host rewrite")
            return
        }
    }

    @Test("prefix_rewrite and regex_rewrite together are rejected")
    func bothRewrites() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend, prefix_rewrite: /a, regex_rewrite: {pattern: {regex: "x"}, substitution: y}}
                """)
        Fixture.expectOneError(
            yaml, at: "regex_rewrite", path: "\(Fixture.route(0)).route.regex_rewrite",
            message: "prefix_rewrite and regex_rewrite cannot both be set")
    }

    @Test("regex_rewrite without a pattern")
    func regexRewriteWithoutPattern() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend, regex_rewrite: {substitution: y}}
                """)
        Fixture.expectOneError(
            yaml, at: "{substitution", path: "\(Fixture.route(0)).route.regex_rewrite.pattern",
            message: "required field is missing")
    }

    @Test("hash_policy kinds: header (with rewrite), cookie, source IP and query parameter")
    func hashPolicies() throws {
        let action = try #require(
            routeAction(
                """
                cluster: backend
                hash_policy:
                - header: {header_name: X-User, regex_rewrite: {pattern: {regex: "^(.*)-.*$"}, substitution: "\\\\1"}}
                - cookie: {name: session, ttl: 60s, path: /}
                  terminal: true
                - connection_properties: {source_ip: true}
                - query_parameter: {name: user}
                """))
        let sources = action.hashPolicy.map(\.source)
        #expect(sources.count == 4)
        guard case .header("x-user", let rewrite?) = sources[0],
            case .cookie("session", let ttl, let path) = sources[1],
            case .sourceIP = sources[2],
            case .queryParameter("user") = sources[3]
        else {
            Issue.record("unexpected hash policies: \(sources)")
            return
        }
        #expect(rewrite.1 == "\\1")
        #expect(ttl == .seconds(60) && path == "/")
        #expect(action.hashPolicy.map(\.terminal) == [false, true, false, false])
    }

    @Test("a hash policy on source_ip false hashes nothing and is rejected")
    func sourceIPFalse() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend, hash_policy: [{connection_properties: {source_ip: false}}]}
                """)
        Fixture.expectOneError(
            yaml, at: "{source_ip", path: "\(Fixture.route(0)).route.hash_policy[0].connection_properties",
            message: "connection_properties hashes nothing unless source_ip is true")
    }

    @Test("redirect fields decode; the default code is 301")
    func redirect() throws {
        guard
            case .redirect(let full)? = action(
                """
                - match: {prefix: "/"}
                  redirect:
                    https_redirect: true
                    host_redirect: example.com
                    port_redirect: 8443
                    path_redirect: /new
                    response_code: PERMANENT_REDIRECT
                    strip_query: true
                """)
        else {
            Issue.record("expected a redirect")
            return
        }
        #expect(full.scheme == "https" && full.host == "example.com" && full.port == 8443)
        #expect(full.responseCode == .permanentRedirect && full.responseCode.status == 308)
        #expect(full.stripQuery)
        guard case .path("/new")? = full.pathRewrite else {
            Issue.record("expected a path redirect")
            return
        }
        guard
            case .redirect(let minimal)? = action(
                "- match: {prefix: \"/\"}\n  redirect: {scheme_redirect: HTTP, prefix_rewrite: /v2}")
        else {
            Issue.record("expected a redirect")
            return
        }
        #expect(minimal.scheme == "http" && minimal.host == nil && minimal.port == nil)
        #expect(minimal.responseCode == .movedPermanently && minimal.responseCode.status == 301)
        guard case .prefix("/v2")? = minimal.pathRewrite else {
            Issue.record("expected a prefix rewrite")
            return
        }
    }

    @Test("a redirect with a regex path rewrite")
    func redirectRegex() throws {
        guard
            case .redirect(let redirect)? = action(
                """
                - match: {prefix: "/"}
                  redirect: {regex_rewrite: {pattern: {regex: "^/old/(.*)$"}, substitution: "/new/\\\\1"}}
                """), case .regex(let regex, let substitution)? = redirect.pathRewrite
        else {
            Issue.record("expected a regex redirect")
            return
        }
        #expect(regex.wholeMatch("/old/page") && substitution == "/new/\\1")
    }

    @Test("https_redirect and scheme_redirect conflict")
    func redirectSchemeConflict() {
        let yaml = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  redirect: {https_redirect: true, scheme_redirect: http}")
        Fixture.expectOneError(
            yaml, at: "scheme_redirect", path: "\(Fixture.route(0)).redirect.scheme_redirect",
            message: "only one of https_redirect, scheme_redirect may be set")
    }

    @Test("direct_response with an inline body")
    func directResponse() throws {
        guard
            case .directResponse(let response)? = action(
                "- match: {prefix: \"/\"}\n  direct_response: {status: 503, body: {inline_string: \"down\\n\"}}")
        else {
            Issue.record("expected a direct response")
            return
        }
        #expect(response.status == 503)
        #expect(response.body?.string == "down\n" && response.body?.origin == .inline)
    }

    @Test("a direct_response body over 4096 bytes is rejected at the body")
    func directResponseTooLarge() {
        let body = String(repeating: "x", count: 4097)
        let yaml = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: \(body)}}")
        Fixture.expectOneError(
            yaml, at: "{inline_string", path: "\(Fixture.route(0)).direct_response.body",
            message: "body is 4097 bytes, more than max_direct_response_body_size_bytes (4096)")
        let exactly4096 = yaml.replacingOccurrences(of: body, with: String(repeating: "x", count: 4096))
        #expect(Fixture.errors(exactly4096).isEmpty)
    }

    @Test("max_direct_response_body_size_bytes raises the limit")
    func raisedBodyLimit() {
        let body = String(repeating: "x", count: 5000)
        let yaml = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: \(body)}}",
            routeConfigFields: "max_direct_response_body_size_bytes: 8192")
        #expect(Fixture.errors(yaml).isEmpty)
    }

    @Test("direct_response needs a status between 200 and 599")
    func directResponseStatus() {
        let missing = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  direct_response: {body: {inline_string: x}}")
        Fixture.expectOneError(
            missing, at: "{body", path: "\(Fixture.route(0)).direct_response.status",
            message: "required field is missing")
        let outOfRange = Fixture.bootstrap(routes: "- match: {prefix: \"/\"}\n  direct_response: {status: 99}")
        Fixture.expectOneError(
            outOfRange, at: "99", path: "\(Fixture.route(0)).direct_response.status",
            message: "99 is out of range 200...599")
    }

    @Test("inline_bytes must be base64")
    func inlineBytes() throws {
        guard
            case .directResponse(let response)? = action(
                "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_bytes: aGk=}}")
        else {
            Issue.record("expected a direct response")
            return
        }
        #expect(response.body?.string == "hi")
        let yaml = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_bytes: \"!!\"}}")
        Fixture.expectOneError(
            yaml, at: "\"!!\"", path: "\(Fixture.route(0)).direct_response.body.inline_bytes",
            message: "not valid base64")
    }

    @Test("upgrade_configs accept websocket and refuse CONNECT")
    func upgrades() throws {
        let action = try #require(
            routeAction(
                "cluster: backend\nupgrade_configs: [{upgrade_type: WebSocket}, {upgrade_type: h2c, enabled: false}]"))
        #expect(action.upgradeConfigs.map(\.upgradeType) == ["websocket", "h2c"])
        #expect(action.upgradeConfigs.map(\.enabled) == [true, false])
        let yaml = Fixture.bootstrap(hcm: "upgrade_configs: [{upgrade_type: CONNECT}]")
        Fixture.expectOneError(
            yaml, at: "CONNECT", path: "\(Fixture.hcm).upgrade_configs[0].upgrade_type",
            message: "CONNECT upgrades are not supported yet by Ferry")
    }
}
