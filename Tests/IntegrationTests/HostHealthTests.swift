import FerryTestKit
import Testing

/// Endpoint health from the config (`health_status`) and the healthy panic threshold: hosts out
/// of rotation get no traffic, until too few are left and the level balances over all of them.
@Suite("Host health and panic mode")
struct HostHealthTests {
    /// A cluster `pool` over `ports`, the endpoints at `unhealthy` indices marked UNHEALTHY.
    static func cluster(_ ports: [Int], unhealthy: Set<Int>, extra: String = "") -> String {
        var yaml = "- name: pool\n  type: STATIC\n  connect_timeout: 1s\n"
        if !extra.isEmpty { yaml += "  \(extra)\n" }
        yaml += "  load_assignment:\n    cluster_name: pool\n    endpoints:\n    - lb_endpoints:\n"
        for (i, port) in ports.enumerated() {
            yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}\n"
            if unhealthy.contains(i) { yaml += "        health_status: UNHEALTHY\n" }
        }
        return yaml
    }

    static func with(_ names: [String], unhealthy: Set<Int>, extra: String = "",
                     _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: names, yaml: { ports in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                                 extraClusters: Self.cluster(ports, unhealthy: unhealthy, extra: extra))
        }) { proxy, _ in try await body(proxy) }
    }

    @Test("an endpoint marked UNHEALTHY gets no traffic; /clusters and membership_healthy say so")
    func unhealthyEndpointSkipped() async throws {
        try await Self.with(["a", "b", "c"], unhealthy: [1]) { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 30).map(\.value)
            #expect(names.count == 30)
            #expect(!names.contains("b"), "\(names)")
            #expect(Set(names) == ["a", "c"])
            #expect(try await proxy.stat("cluster.pool.membership_healthy") == 2)
            #expect(try await proxy.stat("cluster.pool.membership_total") == 3)
            #expect(try await proxy.stat("cluster.pool.lb_healthy_panic") == 0)
            let clusters = try await ProxyHarness.admin("GET", "/clusters", port: proxy.adminPort).body
            #expect(clusters.contains("::health_flags::/failed_eds_health"), "\(clusters)")
            #expect(clusters.components(separatedBy: "::health_flags::healthy").count - 1 == 2)
        }
    }

    @Test("three of four endpoints unhealthy (25% < 50%): panic mode balances over all four and counts lb_healthy_panic")
    func panicSpreadsOverAll() async throws {
        try await Self.with(["a", "b", "c", "d"], unhealthy: [1, 2, 3]) { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 40).map(\.value)
            #expect(Set(names) == ["a", "b", "c", "d"], "\(names)")
            #expect(try await proxy.stat("cluster.pool.lb_healthy_panic") == 40)
        }
    }

    @Test("healthy_panic_threshold 0 disables panic: only the healthy endpoint is used")
    func panicDisabled() async throws {
        let extra = "common_lb_config: {healthy_panic_threshold: {value: 0}}"
        try await Self.with(["a", "b", "c", "d"], unhealthy: [1, 2, 3], extra: extra) { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 20).map(\.value)
            #expect(Set(names) == ["a"], "\(names)")
            #expect(try await proxy.stat("cluster.pool.lb_healthy_panic") == 0)
        }
    }

    @Test("every endpoint unhealthy and panic disabled: 503 'no healthy upstream', flag UH, upstream_cx_none_healthy")
    func noHealthyHost() async throws {
        let extra = "common_lb_config: {healthy_panic_threshold: {value: 0}}"
        try await Self.with(["a", "b"], unhealthy: [0, 1], extra: extra) { proxy in
            let response = try await Curl.fetch(proxy.url("/"))
            #expect(response.status == 503)
            #expect(response.body == "no healthy upstream")
            #expect(try await proxy.stat("cluster.pool.upstream_cx_none_healthy") == 1)
        }
    }
}
