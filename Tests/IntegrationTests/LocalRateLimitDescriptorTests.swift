import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.http.local_ratelimit` descriptors through the real proxy: each `rate_limits`
/// action kind produces the descriptor Envoy 1.40 produces (seen through the bucket the
/// `x-ratelimit-limit` header reports: every configured descriptor has its own max_tokens, the
/// default bucket 100), per-connection descriptor buckets, and `/governance`.
@Suite("Local rate limit descriptors")
struct LocalRateLimitDescriptorTests {
    /// The filter: a default bucket of 100 and `descriptors` as (entries, max_tokens), each
    /// refilling one token a minute.
    static func filter(_ descriptors: [(String, Int)], extra: String = "") -> String {
        let list = descriptors.map { "{entries: [\($0.0)], token_bucket: {max_tokens: \($0.1), fill_interval: 60s}}" }
        return """
            - name: envoy.filters.http.local_ratelimit
              typed_config:
                "@type": \(LocalRateLimitTests.type)
                stat_prefix: lrl
                token_bucket: {max_tokens: 100, tokens_per_fill: 100, fill_interval: 60s}
                filter_enabled: {default_value: {numerator: 100}}
                filter_enforced: {default_value: {numerator: 100}}
                enable_x_ratelimit_headers: DRAFT_VERSION_03
                descriptors: [\(list.joined(separator: ", "))]
            \(extra.isEmpty ? "" : "    " + extra)
            """
    }

    /// One action kind: its `rate_limits` on the route to `backend`, the descriptors, and
    /// requests (curl arguments, path) with the x-ratelimit-limit each must report.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var rateLimits: [String]
        var descriptors: [(String, Int)]
        var requests: [([String], String, String)]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "source_cluster: node.cluster", rateLimits: ["[{source_cluster: {}}]"],
             descriptors: [("{key: source_cluster, value: edge}", 7)], requests: [([], "/", "7")]),
        Case(name: "destination_cluster: the route's cluster", rateLimits: ["[{destination_cluster: {}}]"],
             descriptors: [("{key: destination_cluster, value: backend}", 7)], requests: [([], "/", "7")]),
        Case(name: "request_headers: first value; absent drops the descriptor unless skip_if_absent",
             rateLimits: ["[{request_headers: {header_name: x-k, descriptor_key: k}}]",
                          "[{generic_key: {descriptor_key: g, descriptor_value: '1'}}, {request_headers: {header_name: x-opt, descriptor_key: o, skip_if_absent: true}}]"],
             descriptors: [("{key: k, value: a}", 7), ("{key: k}", 8), ("{key: g, value: '1'}", 9), ("{key: g, value: '1'}, {key: o, value: x}", 6)],
             requests: [(["-H", "x-k: a", "-H", "x-k: b"], "/", "7"), (["-H", "x-k: b"], "/", "8"), ([], "/", "9"), (["-H", "x-opt: x"], "/", "6")]),
        Case(name: "query_parameters: percent-decoded first value; '+' stays; absent drops the descriptor",
             rateLimits: ["[{query_parameters: {query_parameter_name: q, descriptor_key: q}}]"],
             descriptors: [("{key: q, value: a b}", 7), ("{key: q, value: a+b}", 8)],
             requests: [([], "/?q=a%20b&q=c", "7"), ([], "/?x=1&q=a+b", "8"), ([], "/?Q=a%20b", "100")]),
        Case(name: "remote_address: the client, or the trusted x-forwarded-for address", rateLimits: ["[{remote_address: {}}]"],
             descriptors: [("{key: remote_address, value: 127.0.0.1}", 7), ("{key: remote_address, value: 10.0.0.9}", 8)],
             requests: [([], "/", "7"), (["-H", "x-forwarded-for: 10.0.0.9"], "/", "8")]),
        Case(name: "masked_remote_address: network/length", rateLimits: ["[{masked_remote_address: {v4_prefix_mask_len: 24}}]"],
             descriptors: [("{key: masked_remote_address, value: 127.0.0.0/24}", 7)], requests: [([], "/", "7")]),
        Case(name: "generic_key: always, default key generic_key", rateLimits: ["[{generic_key: {descriptor_value: api}}]"],
             descriptors: [("{key: generic_key, value: api}", 7)], requests: [([], "/", "7")]),
        Case(name: "header_value_match: an entry when the match comes out as expected, else no descriptor",
             rateLimits: ["[{header_value_match: {descriptor_value: hv, headers: [{name: x-a, exact_match: '1'}]}}]",
                          "[{header_value_match: {descriptor_key: nk, descriptor_value: nv, expect_match: false, headers: [{name: x-a, exact_match: '1'}]}}]"],
             descriptors: [("{key: header_match, value: hv}", 7), ("{key: nk, value: nv}", 8)],
             requests: [(["-H", "x-a: 1"], "/", "7"), (["-H", "x-a: 2"], "/", "8")]),
        Case(name: "query_parameter_value_match: over decoded parameters",
             rateLimits: ["[{query_parameter_value_match: {descriptor_value: qv, query_parameters: [{name: d, string_match: {exact: 'x y'}}]}}]"],
             descriptors: [("{key: query_match, value: qv}", 7)], requests: [([], "/?d=x%20y", "7"), ([], "/?d=x+y", "100"), ([], "/", "100")]),
    ]

    @Test("each rate_limits action produces Envoy's descriptor entry", arguments: cases)
    func action(_ c: Case) async throws {
        let limits = c.rateLimits.map { "- actions: \($0)" }.joined(separator: "\n")
        let routes = "- match: {prefix: \"/\"}\n  route:\n    cluster: backend\n    rate_limits:\n" + limits.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: routes, clusters: [("backend", ports)], httpFilters: Self.filter(c.descriptors),
                                 top: "node: {id: test, cluster: edge}")
        }) { proxy, _ in
            for (arguments, path, limit) in c.requests {
                let r = try await Curl.fetch(arguments + [proxy.url(path)])
                #expect(r.status == 200, "\(path) \(arguments)")
                #expect(r.header("x-ratelimit-limit") == limit, "\(c.name): \(path) \(arguments)")
            }
        }
    }

    @Test("per-connection buckets hold descriptors too: each connection gets its own, wildcards included; /governance lists the descriptors")
    func perConnection() async throws {
        let extra = "local_rate_limit_per_downstream_connection: true\n    rate_limits: [{actions: [{request_headers: {header_name: x-k, descriptor_key: k}}]}]"
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: LocalRateLimitTests.directRoutes, clusters: [],
                                 httpFilters: Self.filter([("{key: k, value: a}", 2), ("{key: k}", 1)], extra: extra))
        }) { proxy, _ in
            func statuses(_ key: String) throws -> [Int] {
                let one = ["-o", "/dev/null", "-H", "x-k: \(key)", proxy.url("/")]
                let out = try Spawned.capture("/usr/bin/curl", ["-s", "--max-time", "10", "-w", "%{http_code}\n"] + one + one + one)
                return String(decoding: out.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) }
            }
            let first = try statuses("a"), second = try statuses("a"), wildcard = try statuses("b")
            #expect(first == [200, 200, 429] && second == [200, 200, 429])
            #expect(wildcard == [200, 429, 429])
            #expect(try await proxy.stat("lrl.http_local_rate_limit.rate_limited") == 4)
        }
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: LocalRateLimitTests.directRoutes, clusters: [],
                                 httpFilters: Self.filter([("{key: k, value: a}", 2), ("{key: k}", 1)],
                                                          extra: "rate_limits: [{actions: [{request_headers: {header_name: x-k, descriptor_key: k}}]}]"))
        }) { proxy, _ in
            for key in ["a", "b", "c"] { _ = try await Curl.fetch(["-H", "x-k: \(key)", proxy.url("/")]) }
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance")
            #expect(live.body.contains("\"descriptors\":[{\"entries\":\"k=a\",\"max_tokens\":2,\"tokens\":1},{\"entries\":\"k=\",\"max_tokens\":1,\"buckets\":2}]"),
                    "\(live.body)")
        }
    }
}
