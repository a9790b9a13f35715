@testable import FerryConfig
import Testing

/// `lb_policy` and its per-policy settings: Envoy's defaults, bounds and the values Ferry
/// cannot honour yet.
@Suite("Load balancer settings")
struct LbPolicyConfigTests {
    static func cluster(_ fields: String) -> Cluster? {
        Fixture.load(Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  " + fields))?.clusters.first
    }

    @Test("RANDOM, LEAST_REQUEST, RING_HASH and MAGLEV are accepted, with Envoy's defaults")
    func policiesAndDefaults() throws {
        for name in ["ROUND_ROBIN", "RANDOM", "LEAST_REQUEST", "RING_HASH", "MAGLEV"] {
            let cluster = try #require(Self.cluster("lb_policy: \(name)"), "\(name) refused")
            #expect(cluster.lbPolicy.rawValue == name)
            #expect(cluster.leastRequest == LeastRequestConfig())
            #expect(cluster.ringHash.minimumRingSize == 1024 && cluster.ringHash.maximumRingSize == 8_388_608)
            #expect(cluster.maglev.tableSize == 65537)
        }
    }

    @Test("least_request_lb_config, ring_hash_lb_config and maglev_lb_config are read")
    func settingsRead() throws {
        let least = try #require(Self.cluster("""
            lb_policy: LEAST_REQUEST
              least_request_lb_config: {choice_count: 3, active_request_bias: {default_value: 0.5, runtime_key: lr.bias}}
            """))
        #expect(least.leastRequest.choiceCount == 3)
        #expect(least.leastRequest.activeRequestBias == 0.5)
        let ring = try #require(Self.cluster("""
            lb_policy: RING_HASH
              ring_hash_lb_config: {minimum_ring_size: 2048, maximum_ring_size: 4096, hash_function: XX_HASH}
            """))
        #expect(ring.ringHash.minimumRingSize == 2048 && ring.ringHash.maximumRingSize == 4096)
        let maglev = try #require(Self.cluster("lb_policy: MAGLEV\n  maglev_lb_config: {table_size: 5000011}"))
        #expect(maglev.maglev.tableSize == 5_000_011)
    }

    @Test("a Maglev table size that is not prime is refused with a fix")
    func maglevPrime() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  lb_policy: MAGLEV\n  maglev_lb_config: {table_size: 65536}"),
            at: "65536", path: "static_resources.clusters[0].maglev_lb_config.table_size",
            message: "table_size 65536 is not a prime number")
    }

    @Test("a ring whose minimum is above its maximum is refused")
    func ringBounds() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster
                + "\n  lb_policy: RING_HASH\n  ring_hash_lb_config: {minimum_ring_size: 4096, maximum_ring_size: 1024}"),
            at: "{minimum_ring_size", path: "static_resources.clusters[0].ring_hash_lb_config",
            message: "minimum_ring_size is larger than maximum_ring_size")
    }

    @Test("MURMUR_HASH_2 is a known value that is not supported yet")
    func murmur() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster
                + "\n  lb_policy: RING_HASH\n  ring_hash_lb_config: {hash_function: MURMUR_HASH_2}"),
            at: "MURMUR_HASH_2", path: "static_resources.clusters[0].ring_hash_lb_config.hash_function",
            message: "hash_function MURMUR_HASH_2 is not supported yet by Ferry")
    }

    @Test("choice_count below 2 is refused, as Envoy's validation does")
    func choiceCount() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster
                + "\n  lb_policy: LEAST_REQUEST\n  least_request_lb_config: {choice_count: 1}"),
            at: "1}", path: "static_resources.clusters[0].least_request_lb_config.choice_count",
            message: "1 is out of range 2...4294967295")
    }

    @Test("slow_start_config is read from least_request_lb_config and round_robin_lb_config")
    func slowStart() throws {
        let least = try #require(LbPolicyConfigTests.cluster("""
            lb_policy: LEAST_REQUEST
              least_request_lb_config: {slow_start_config: {slow_start_window: 30s, aggression: {default_value: 2, runtime_key: a}, min_weight_percent: {value: 5}}}
            """))
        #expect(least.slowStart?.window == .seconds(30))
        #expect(least.slowStart?.aggression == 2)
        #expect(least.slowStart?.minWeightPercent == 5)
        let rr = try #require(LbPolicyConfigTests.cluster("round_robin_lb_config: {slow_start_config: {slow_start_window: 10s}}"))
        #expect(rr.slowStart == SlowStartConfig(window: .seconds(10)))
    }

    @Test("slow_start_config without a window is refused")
    func slowStartNeedsWindow() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  round_robin_lb_config: {slow_start_config: {aggression: {default_value: 2, runtime_key: a}}}"),
            at: "{aggression", path: "static_resources.clusters[0].round_robin_lb_config.slow_start_config.slow_start_window",
            message: "slow start needs a slow_start_window")
    }

    @Test("a filter_state hash policy is refused instead of being dropped")
    func filterStateHash() {
        let yaml = Fixture.bootstrap(routes: """
            - match: {prefix: "/"}
              route: {cluster: backend, hash_policy: [{filter_state: {key: k}}]}
            """)
        Fixture.expectOneError(
            yaml, at: "filter_state", path: "static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0].route.hash_policy[0].filter_state",
            message: "hash_policy filter_state is not supported yet by Ferry")
    }
}

@Suite("load_balancing_policy")
struct LoadBalancingPolicyConfigTests {
    static func cluster(_ policies: String) -> Cluster? {
        LbPolicyConfigTests.cluster("load_balancing_policy:\n    policies:\n" + policies)
    }

    @Test("Ferry's peak EWMA extension is read with its settings")
    func peakEWMA() throws {
        let cluster = try #require(Self.cluster("""
                - typed_extension_config:
                    name: ferry.load_balancing_policies.peak_ewma
                    typed_config: {"@type": type.googleapis.com/ferry.load_balancing_policies.peak_ewma.v1.PeakEwma, decay_time: 5s, default_rtt: 0.05s}
            """))
        #expect(cluster.peakEWMA?.decayTime == .seconds(5))
        #expect(cluster.peakEWMA?.defaultRTT == .milliseconds(50))
        #expect(cluster.lbPolicy == .loadBalancingPolicyConfig)
    }

    @Test("Envoy's typed least_request maps onto lb_policy LEAST_REQUEST; the first known policy wins")
    func envoyTypedPolicies() throws {
        let cluster = try #require(Self.cluster("""
                - typed_extension_config:
                    name: envoy.load_balancing_policies.least_request
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest, choice_count: 4}
                - typed_extension_config:
                    name: envoy.load_balancing_policies.round_robin
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin}
            """))
        #expect(cluster.lbPolicy == .leastRequest)
        #expect(cluster.leastRequest.choiceCount == 4)
        #expect(cluster.peakEWMA == nil)
    }

    @Test("a policy list with no type Ferry knows is refused with the list of known ones")
    func unknownPolicy() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + """

              load_balancing_policy:
                policies:
                - typed_extension_config:
                    name: custom
                    typed_config: {"@type": type.googleapis.com/acme.lb.v1.Custom}
            """)
        Fixture.expectOneError(
            yaml, at: "{\"@type\": type.googleapis.com/acme", path: "static_resources.clusters[0].load_balancing_policy.policies[0].typed_extension_config.typed_config.@type",
            message: "load balancing policy type.googleapis.com/acme.lb.v1.Custom is not supported by Ferry")
    }

    @Test("lb_policy LOAD_BALANCING_POLICY_CONFIG without load_balancing_policy is refused")
    func configWithoutPolicy() {
        Fixture.expectOneError(
            Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  lb_policy: LOAD_BALANCING_POLICY_CONFIG"),
            at: "LOAD_BALANCING_POLICY_CONFIG", path: "static_resources.clusters[0].lb_policy",
            message: "lb_policy LOAD_BALANCING_POLICY_CONFIG needs load_balancing_policy")
    }
}
