import FerryTestKit
import Foundation
import Testing

/// Local rate limit descriptors through the real Envoy 1.40 and through Ferry, on the same
/// config and request sequence: statuses, bodies, the `x-ratelimit-*` headers (which bucket
/// each answer reports) and the `http_local_rate_limit.*` stats must be the same. Every bucket
/// that can run out refills at most a token a minute, so the runs' different pace cannot
/// change an answer.
@Suite("Differential: local rate limit descriptors as Envoy 1.40", .serialized)
struct DifferentialLocalRateLimitTests {
    struct Reply: CustomStringConvertible {
        var status: Int
        var headers: [String]
        /// `x-ratelimit-reset`: seconds until the bucket's next token, rounded up. It counts down
        /// while the test runs, so the two runs may see it a second apart.
        var reset: Int?
        var body: String
        var description: String { "\(status) \(headers.joined(separator: " ")) reset=\(reset.map(String.init) ?? "-") \(body)" }

        func matches(_ other: Reply) -> Bool {
            guard status == other.status, headers == other.headers, body == other.body else { return false }
            guard let reset, let otherReset = other.reset else { return reset == other.reset }
            return (reset == 0) == (otherReset == 0) && abs(reset - otherReset) <= 1
        }
    }

    /// Sends `requests` (curl arguments, path) in order; keeps the rate limit headers, and the
    /// body of local replies (an upstream's echo differs between the two runs by design).
    static func run(port: Int, admin: Int, _ requests: [([String], String)]) async throws -> ([Reply], [String: String]) {
        var replies: [Reply] = []
        for (arguments, path) in requests {
            let r = try await Curl.fetch(arguments + ["http://127.0.0.1:\(port)\(path)"])
            let headers = ["x-ratelimit-limit", "x-ratelimit-remaining", "x-local-rate-limit"]
                .compactMap { name in r.header(name).map { "\(name)=\($0)" } }
            replies.append(Reply(status: r.status, headers: headers, reset: r.header("x-ratelimit-reset").flatMap { Int($0) },
                                 body: r.status == 429 ? r.body : ""))
        }
        let stats = try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=http_local_rate_limit").body
        return (replies, Admin.stats(stats))
    }

    /// Runs the sequence through Envoy, then Ferry, on `yaml(echoPort)`; returns Ferry's replies.
    static func compare(_ yaml: (Int) -> String, _ requests: [([String], String)]) async throws -> [Reply] {
        let echo = try await EchoServer.start(name: "backend")
        return try await withCleanup {
            let text = yaml(echo.port)
            let envoy = try await EnvoyProcess.with(yaml: text) { envoy in
                try await Self.run(port: envoy.port(of: "main"), admin: envoy.adminPort, requests)
            }
            let ferry = try await ProxyHarness.with(yaml: { _ in text }) { proxy, _ in
                try await Self.run(port: proxy.port(of: "main"), admin: proxy.adminPort, requests)
            }
            #expect(envoy.0.count == requests.count && envoy.0.allSatisfy { $0.status != 0 }, "Envoy did not answer: \(envoy.0)")
            for (i, (e, f)) in zip(envoy.0, ferry.0).enumerated() {
                #expect(f.matches(e), "request \(i) \(requests[i]): Ferry \(f) / Envoy \(e)")
            }
            #expect(ferry.1 == envoy.1)
            #expect(envoy.1["lrl.http_local_rate_limit.shadow_mode"] == "0")
            return ferry.0
        } cleanup: {
            await echo.stop()
        }
    }

    static func filter(_ fields: String) -> String {
        """
        - name: envoy.filters.http.local_ratelimit
          typed_config:
            "@type": \(LocalRateLimitTests.type)
            stat_prefix: lrl
            filter_enabled: {default_value: {numerator: 100}}
            filter_enforced: {default_value: {numerator: 100}}
            enable_x_ratelimit_headers: DRAFT_VERSION_03
            response_headers_to_add: [{header: {key: x-local-rate-limit, value: 'true'}}]
        \(fields.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """
    }

    @Test("route and virtual host rate_limits: header-keyed exact and wildcard descriptors, remote_address, generic_key, vh_rate_limits INCLUDE, stage and disable_key")
    func routeLevel() async throws {
        let fields = """
            token_bucket: {max_tokens: 8, fill_interval: 60s}
            vh_rate_limits: INCLUDE
            descriptors:
            - {entries: [{key: k, value: a}], token_bucket: {max_tokens: 2, fill_interval: 60s}}
            - {entries: [{key: k}], token_bucket: {max_tokens: 1, fill_interval: 60s}}
            - {entries: [{key: remote_address, value: 127.0.0.1}], token_bucket: {max_tokens: 50, tokens_per_fill: 50, fill_interval: 1s}}
            - {entries: [{key: g, value: vh}], token_bucket: {max_tokens: 4, fill_interval: 60s}}
            - {entries: [{key: g, value: stage1}], token_bucket: {max_tokens: 9, fill_interval: 60s}}
            """
        let routeConfig = TestConfig.virtualHost("all", domains: ["*"], routes: """
            - match: {prefix: "/r"}
              route:
                cluster: backend
                rate_limits:
                - actions: [{request_headers: {header_name: x-k, descriptor_key: k}}]
                - actions: [{remote_address: {}}]
                - {stage: 1, actions: [{generic_key: {descriptor_key: g, descriptor_value: stage1}}]}
                - {disable_key: dk, actions: [{generic_key: {descriptor_key: g, descriptor_value: stage1}}]}
            - match: {prefix: "/d"}
              direct_response: {status: 200, body: {inline_string: ok}}
            - match: {prefix: "/"}
              route: {cluster: backend}
            """, extra: "rate_limits: [{actions: [{generic_key: {descriptor_key: g, descriptor_value: vh}}]}]")
        let key = { (k: String) in ["-H", "x-k: \(k)"] }
        let requests: [([String], String)] = [
            (key("a"), "/r"), (key("a"), "/r"), (key("a"), "/r"), (key("b"), "/r"), (key("b"), "/r"),
            (key("c"), "/r"), ([], "/"), ([], "/d"), ([], "/r"), ([], "/d"), ([], "/d"), ([], "/d"), ([], "/d"),
        ]
        let replies = try await Self.compare({ echo in
            TestConfig.bootstrap(routeConfig: "virtual_hosts:\n" + routeConfig, clusters: [("backend", [echo])],
                                 httpFilters: Self.filter(fields))
        }, requests)
        #expect(replies.map(\.status) == [200, 200, 429, 200, 429, 200, 429, 200, 429, 200, 200, 200, 429])
    }

    @Test("the filter's own rate_limits: query_parameters wildcard and exact, masked_remote_address, header_value_match, always_consume_default_token_bucket false")
    func filterLevel() async throws {
        let fields = """
            token_bucket: {max_tokens: 3, fill_interval: 60s}
            always_consume_default_token_bucket: false
            max_dynamic_descriptors: 2
            rate_limits:
            - actions: [{query_parameters: {query_parameter_name: user, descriptor_key: user}}]
            - actions: [{masked_remote_address: {v4_prefix_mask_len: 16}}]
            - actions: [{header_value_match: {descriptor_value: beta, headers: [{name: x-beta, present_match: true}]}}]
            descriptors:
            - {entries: [{key: user}], token_bucket: {max_tokens: 2, fill_interval: 60s}}
            - {entries: [{key: user, value: vip}], token_bucket: {max_tokens: 4, fill_interval: 60s}}
            - {entries: [{key: masked_remote_address, value: 127.0.0.0/16}], token_bucket: {max_tokens: 10, tokens_per_fill: 10, fill_interval: 300s}}
            - {entries: [{key: header_match, value: beta}], token_bucket: {max_tokens: 1, fill_interval: 60s}}
            """
        let beta = ["-H", "x-beta: 1"]
        var requests: [([String], String)] = [
            ([], "/?user=vip"), ([], "/?user=bob"), ([], "/?user=bob"), ([], "/?user=bob"),
            // A third user drops bob's bucket (max_dynamic_descriptors 2): bob starts afresh.
            ([], "/?user=al"), ([], "/?user=cy"), ([], "/?user=bob"), ([], "/"), (beta, "/"), (beta, "/"),
        ]
        requests += Array(repeating: ([], "/"), count: 4)
        let replies = try await Self.compare({ _ in
            TestConfig.bootstrap(routes: LocalRateLimitTests.directRoutes, clusters: [], httpFilters: Self.filter(fields))
        }, requests)
        #expect(replies.map(\.status) == [200, 200, 200, 429, 200, 200, 200, 200, 200, 429, 200, 200, 429, 429])
    }
}
