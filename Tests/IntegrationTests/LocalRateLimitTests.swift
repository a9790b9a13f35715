import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.http.local_ratelimit` through the real proxy: Envoy 1.40's replies, headers
/// and stats, shadow mode, per-route buckets and per-connection buckets, and the bucket's
/// accuracy under concurrent load on two worker loops.
@Suite("Local rate limit filter")
struct LocalRateLimitTests {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"

    static func filter(maxTokens: Int, perFill: Int, interval: String, enforced: Int = 100, extra: String = "") -> String {
        """
        - name: envoy.filters.http.local_ratelimit
          typed_config:
            "@type": \(type)
            stat_prefix: http_local_rate_limiter
            token_bucket: {max_tokens: \(maxTokens), tokens_per_fill: \(perFill), fill_interval: \(interval)}
            filter_enabled: {runtime_key: local_rate_limit_enabled, default_value: {numerator: 100, denominator: HUNDRED}}
            filter_enforced: {runtime_key: local_rate_limit_enforced, default_value: {numerator: \(enforced), denominator: HUNDRED}}
            response_headers_to_add:
            - append_action: OVERWRITE_IF_EXISTS_OR_ADD
              header: {key: x-local-rate-limit, value: 'true'}
        \(extra.isEmpty ? "" : "    " + extra.replacingOccurrences(of: "\n", with: "\n    "))
        """
    }

    static let directRoutes = """
        - match: {prefix: "/"}
          direct_response: {status: 200, body: {inline_string: ok}}
        """

    struct Reply: Equatable, CustomStringConvertible {
        var status: Int
        var body: String
        var headers: [String: String]
        var description: String { "\(status) \(body) \(headers)" }
    }

    static func get(_ port: Int, path: String = "/") async throws -> Reply {
        let r = try await Curl.fetch("http://127.0.0.1:\(port)\(path)")
        var headers: [String: String] = [:]
        for name in ["x-local-rate-limit", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "content-type"] {
            if let v = r.header(name) { headers[name] = v }
        }
        return Reply(status: r.status, body: r.body, headers: headers)
    }

    static func rateLimitStats(admin: Int) async throws -> [String: String] {
        let body = try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=http_local_rate_limit").body
        var stats: [String: String] = [:]
        for line in body.split(separator: "\n") where !line.contains("shadow_mode") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { stats[parts[0]] = parts[1] }
        }
        return stats
    }

    @Test("Envoy 1.40 and Ferry answer the same three requests alike: two pass, the third gets 429 local_rate_limited with the configured and x-ratelimit headers; same stats")
    func differential() async throws {
        let yaml = TestConfig.bootstrap(routes: Self.directRoutes, clusters: [],
                                        httpFilters: Self.filter(maxTokens: 2, perFill: 2, interval: "50s",
                                                                 extra: "enable_x_ratelimit_headers: DRAFT_VERSION_03"))
        func run(port: Int, admin: Int) async throws -> ([Reply], [String: String]) {
            var replies: [Reply] = []
            for _ in 0..<3 { replies.append(try await Self.get(port)) }
            return (replies, try await Self.rateLimitStats(admin: admin))
        }
        let envoy = try await EnvoyProcess.with(yaml: yaml) { envoy in try await run(port: envoy.port(of: "main"), admin: envoy.adminPort) }
        let ferry = try await ProxyHarness.with(yaml: { _ in yaml }) { proxy, _ in try await run(port: proxy.port(of: "main"), admin: proxy.adminPort) }
        #expect(ferry.0 == envoy.0)
        #expect(ferry.1 == envoy.1)
        #expect(ferry.0.map(\.status) == [200, 200, 429])
        #expect(ferry.0[2].body == "local_rate_limited")
        #expect(ferry.0[2].headers["x-local-rate-limit"] == "true")
        #expect(ferry.0[0].headers["x-ratelimit-remaining"] == "1" && ferry.0[1].headers["x-ratelimit-remaining"] == "0")
        #expect(ferry.1["http_local_rate_limiter.http_local_rate_limit.rate_limited"] == "1")
    }

    @Test("shadow mode (filter_enforced 0%): every request passes, the would-be rejections are counted and marked for the upstream")
    func shadowMode() async throws {
        let extra = "request_headers_to_add_when_not_enforced: [{header: {key: x-would-limit, value: 'yes'}}]"
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend}", clusters: [("backend", ports)],
                                 httpFilters: Self.filter(maxTokens: 2, perFill: 1, interval: "60s", enforced: 0, extra: extra))
        }) { proxy, _ in
            var marked: [Bool] = []
            for _ in 0..<4 {
                let r = try await Curl.fetch(proxy.url("/"))
                #expect(r.status == 200)
                marked.append(try EchoReply(r.body).header("x-would-limit") == "yes")
            }
            #expect(marked == [false, false, true, true])
            #expect(try await proxy.stat("http_local_rate_limiter.http_local_rate_limit.rate_limited") == 2)
            #expect(try await proxy.stat("http_local_rate_limiter.http_local_rate_limit.enforced") == 0)
            #expect(try await proxy.stat("http_local_rate_limiter.http_local_rate_limit.ok") == 2)
        }
    }

    @Test("a route's own LocalRateLimit has its own bucket; FilterConfig disabled turns the filter off for a route")
    func perRoute() async throws {
        let routeLimit = """
            {"@type": \(Self.type), stat_prefix: route_limit, token_bucket: {max_tokens: 1, tokens_per_fill: 1, fill_interval: 60s}, \
            filter_enabled: {default_value: {numerator: 100}}, filter_enforced: {default_value: {numerator: 100}}}
            """
        let routes = """
            - match: {prefix: "/own"}
              direct_response: {status: 200, body: {inline_string: own}}
              typed_per_filter_config: {envoy.filters.http.local_ratelimit: \(routeLimit)}
            - match: {prefix: "/free"}
              direct_response: {status: 200, body: {inline_string: free}}
              typed_per_filter_config:
                envoy.filters.http.local_ratelimit: {"@type": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}
            \(Self.directRoutes)
            """
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: routes, clusters: [], httpFilters: Self.filter(maxTokens: 3, perFill: 1, interval: "60s"))
        }) { proxy, _ in
            var own: [Int] = []
            for _ in 0..<3 { own.append(try await Self.get(proxy.port, path: "/own").status) }
            #expect(own == [200, 429, 429])
            for _ in 0..<5 { #expect(try await Self.get(proxy.port, path: "/free").status == 200) }
            var shared: [Int] = []
            for _ in 0..<4 { shared.append(try await Self.get(proxy.port, path: "/other").status) }
            #expect(shared == [200, 200, 200, 429])
            #expect(try await proxy.stat("route_limit.http_local_rate_limit.rate_limited") == 2)
            #expect(try await proxy.stat("http_local_rate_limiter.http_local_rate_limit.rate_limited") == 1)
            // /governance shows both rules with their buckets and counters.
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance")
            #expect(live.status == 200 && live.header("content-type") == "application/json")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any])
            let rules = try #require(document["rules"] as? [[String: Any]])
            #expect(rules.compactMap { $0["key"] as? String }
                == ["main/envoy.filters.http.local_ratelimit", "main/envoy.filters.http.local_ratelimit/route:all/0"])
            let ownRule = try #require(rules.last)
            #expect((ownRule["state"] as? [String: Any])?["tokens"] as? Int == 0)
            #expect((ownRule["state"] as? [String: Any])?["max_tokens"] as? Int == 1)
            #expect((ownRule["counters"] as? [String: Any])?["rate_limited"] as? Int == 2)
            #expect(((rules.first?["state"] as? [String: Any])?["tokens"] as? Int) == 0)
            // The same document as server-sent events, here two of them 100 ms apart.
            let stream = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance/stream?count=2&interval_ms=100")
            #expect(stream.header("content-type") == "text/event-stream")
            let events = stream.body.components(separatedBy: "\n\n").filter { !$0.isEmpty }
            #expect(events.count == 2 && events.allSatisfy { $0.hasPrefix("data: {\"time\":") && $0.contains("route:all/0") })
        }
    }

    @Test("local_rate_limit_per_downstream_connection gives each connection its own bucket")
    func perConnection() async throws {
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [],
                                 httpFilters: Self.filter(maxTokens: 2, perFill: 1, interval: "60s",
                                                          extra: "local_rate_limit_per_downstream_connection: true"))
        }) { proxy, _ in
            // One curl process reuses its connection for every URL it is given.
            func statuses() throws -> [Int] {
                let out = try Spawned.capture("/usr/bin/curl", ["-s", "--max-time", "10", "-w", "%{http_code}\n"]
                                                  + Array(repeating: ["-o", "/dev/null", proxy.url("/")], count: 3).flatMap { $0 })
                return String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
            }
            let first = try statuses()
            let second = try statuses()
            #expect(first == [200, 200, 429])
            #expect(second == [200, 200, 429])
        }
    }

    // About 50 admissions/s: a loaded 2-core machine still offers several times that, so the
    // bucket, not the client, sets the count.
    @Test("under load from 4 keep-alive clients on 2 worker loops, admitted requests match burst + rate × time within 1%")
    func accuracyUnderLoad() async throws {
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [],
                                 httpFilters: Self.filter(maxTokens: 20, perFill: 5, interval: "0.1s"))
        }, concurrency: 2) { proxy, _ in
            let report = await KeepAliveLoad.run(port: proxy.port, clients: 4, duration: .seconds(10), maxRequests: 200_000)
            let admitted = report.outcomes.filter { $0.status == 200 }.count
            let limited = report.outcomes.filter { $0.status == 429 }.count
            #expect(admitted + limited == report.outcomes.count, "unexpected statuses")
            let first = try #require(report.outcomes.min { $0.started < $1.started }).started
            let last = try #require(report.outcomes.max { $0.ended < $1.ended }).ended
            let seconds = Double((last - first).components.attoseconds) / 1e18 + Double((last - first).components.seconds)
            let most = 20 + 50 * seconds
            let least = KeepAliveLoad.Report.tokenBucketAdmissions(
                report.outcomes.map { ($0.startedUptimeNanos, $0.endedUptimeNanos) }, capacity: 20, rate: 50).lowerBound
            // The load must saturate the limiter for the count to mean anything.
            #expect(limited > admitted, "load did not saturate: \(admitted) admitted, \(limited) limited")
            #expect(Double(admitted) >= least - most * 0.01 && Double(admitted) <= most * 1.01,
                    "admitted \(admitted), expected \(least)...\(most) over \(seconds) s")
        }
    }
}
