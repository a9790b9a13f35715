import FerryTestKit
import Testing

/// ROUND_ROBIN over the endpoints of one cluster, with and without endpoint weights.
@Suite("Endpoint load balancing")
struct LoadBalancingTests {
    @Test("ROUND_ROBIN with weights 3:1 sends 300±8 of 400 requests to the heavy endpoint, never 4 light in a row")
    func weightedRoundRobin() async throws {
        try await ProxyHarness.with(
            upstreams: ["heavy", "light"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                    extraClusters:
                        TestConfig.cluster(
                            "pool", endpoints: [.init(port: ports[0], weight: 3), .init(port: ports[1], weight: 1)],
                            extra: "lb_policy: ROUND_ROBIN"))
            }
        ) { proxy, _ in
            let names = try await Support.sequential(proxy.url("/"), count: 400).map(\.value)
            #expect(names.count == 400)
            let heavy = names.filter { $0 == "heavy" }.count
            let light = names.filter { $0 == "light" }.count
            #expect(heavy + light == 400)
            // Weighted round robin is a schedule, not a coin: the split is exact up to where the
            // schedule starts, so the bound is tight (2%).
            #expect(abs(heavy - 300) <= 8, "heavy got \(heavy) of 400")
            // Smooth: the light endpoint gets a turn in every window of 8 requests.
            let starved = (0...(names.count - 8)).first { start in !names[start..<start + 8].contains("light") }
            #expect(starved == nil, "no light pick in the 8 requests from \(starved ?? -1)")
        }
    }

    @Test("ROUND_ROBIN with equal weights rotates through the endpoints in a fixed order")
    func equalWeightsRotate() async throws {
        try await ProxyHarness.with(
            upstreams: ["a", "b", "c"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [("pool", ports)])
            }
        ) { proxy, _ in
            let names = try await Support.sequential(proxy.url("/"), count: 30).map(\.value)
            #expect(names.count == 30)
            #expect(Set(names.prefix(3)) == ["a", "b", "c"])
            let broken = names.indices.dropFirst(3).first { names[$0] != names[$0 - 3] }
            #expect(broken == nil, "rotation broken at request \(broken ?? -1): \(names)")
            for name in ["a", "b", "c"] { #expect(names.filter { $0 == name }.count == 10) }
        }
    }

    @Test("a request forwarded to a STATIC cluster counts once in the cluster's membership and request stats")
    func clusterStats() async throws {
        try await ProxyHarness.with(
            upstreams: ["a", "b"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [("pool", ports)])
            }
        ) { proxy, _ in
            _ = try await Support.sequential(proxy.url("/"), count: 4)
            #expect(try await proxy.stat("cluster.pool.membership_total") == 2)
            #expect(try await proxy.stat("cluster.pool.membership_healthy") == 2)
            #expect(try await proxy.stat("cluster.pool.upstream_rq_total") == 4)
            #expect(try await proxy.stat("cluster.pool.upstream_rq_200") == 4)
        }
    }
}
