/// `load_balancing_policy` (envoy.config.cluster.v3.LoadBalancingPolicy): a list of typed
/// policies of which the first one Ferry knows is used, as Envoy does. Envoy's own
/// `envoy.extensions.load_balancing_policies.*` built-ins map onto `lb_policy` and its settings;
/// `ferry.load_balancing_policies.peak_ewma` is Ferry's latency-aware balancer (Linkerd's
/// peak-EWMA power of two choices).
public struct PeakEWMAConfig: Sendable, Equatable {
    /// The type URL of its typed_config.
    public static let typeURL = "type.googleapis.com/ferry.load_balancing_policies.peak_ewma.v1.PeakEwma"
    /// How fast a latency estimate forgets (Linkerd's 10 s).
    public var decayTime: Duration = .seconds(10)
    /// The estimate of a host without a sample yet (Linkerd's 30 ms).
    public var defaultRTT: Duration = .milliseconds(30)
    public init() {}
}

extension Cluster {
    static func decodeLoadBalancingPolicy(_ r: ObjectReader, into cluster: inout Cluster) {
        guard let policy = r.object("load_balancing_policy", "envoy.config.cluster.v3.LoadBalancingPolicy") else { return }
        defer { policy.finish(known: ["policies"]) }
        let entries = policy.objects("policies", "envoy.config.cluster.v3.LoadBalancingPolicy.Policy")
        var chosen = false
        var unknown: [(ObjectReader, String)] = []
        for entry in entries {
            defer { entry.finish(known: ["typed_extension_config"]) }
            guard let ext = entry.object("typed_extension_config", "envoy.config.core.v3.TypedExtensionConfig") else { continue }
            defer { ext.finish(known: ["name", "typed_config"]) }
            _ = ext.string("name")
            guard let (url, config) = ext.any("typed_config") else { continue }
            if chosen {
                config.accept(contentsOf: config.keys)  // later entries are fallbacks Envoy would not use
                continue
            }
            if decodeTypedPolicy(url, config, into: &cluster) {
                chosen = true
            } else {
                unknown.append((ext, url))
                config.accept(contentsOf: config.keys)
            }
        }
        if !chosen {
            for (ext, url) in unknown {
                ext.diagnostics.error(ext.valueLocation(of: "typed_config"), ext.join("typed_config.@type"),
                                      "load balancing policy \(url) is not supported by Ferry",
                                      fix: "use \(PeakEWMAConfig.typeURL) or one of envoy.extensions.load_balancing_policies "
                                        + "round_robin, least_request, random, ring_hash, maglev (v3)")
            }
            if entries.isEmpty {
                policy.diagnostics.error(policy.node.location, policy.join("policies"), "load_balancing_policy lists no policy",
                                         fix: "add a policy, or remove load_balancing_policy and use lb_policy")
            }
        }
    }

    /// Reads one typed policy into `cluster`; false when Ferry does not know the type.
    private static func decodeTypedPolicy(_ url: String, _ c: ObjectReader, into cluster: inout Cluster) -> Bool {
        let prefix = "type.googleapis.com/envoy.extensions.load_balancing_policies."
        switch url {
        case PeakEWMAConfig.typeURL:
            defer { c.finish(known: ["decay_time", "default_rtt"]) }
            var config = PeakEWMAConfig()
            if let decay = c.duration("decay_time", positive: true) { config.decayTime = decay }
            if let rtt = c.duration("default_rtt") { config.defaultRTT = rtt }
            cluster.lbPolicy = .loadBalancingPolicyConfig
            cluster.peakEWMA = config
        case prefix + "round_robin.v3.RoundRobin":
            defer { c.finish(known: ["slow_start_config", "locality_lb_config"]) }
            cluster.lbPolicy = .roundRobin
            if let s = c.object("slow_start_config", "envoy.config.cluster.v3.Cluster.SlowStartConfig") { cluster.slowStart = .decode(s) }
        case prefix + "random.v3.Random":
            defer { c.finish(known: ["locality_lb_config"]) }
            cluster.lbPolicy = .random
        case prefix + "least_request.v3.LeastRequest":
            defer { c.finish(known: ["choice_count", "active_request_bias", "slow_start_config", "locality_lb_config",
                                     "enable_full_scan", "selection_method"]) }
            cluster.lbPolicy = .leastRequest
            if let s = c.object("slow_start_config", "envoy.config.cluster.v3.Cluster.SlowStartConfig") { cluster.slowStart = .decode(s) }
            if let n = c.uint32("choice_count", in: 2...Int64(UInt32.max), fix: "use 2 (power of two choices) or more") {
                cluster.leastRequest.choiceCount = n
            }
            if let bias = c.object("active_request_bias", "envoy.config.core.v3.RuntimeDouble") {
                defer { bias.finish(known: ["default_value", "runtime_key"]) }
                _ = bias.string("runtime_key")
                if let value = bias.double("default_value", in: 0...1_000_000) { cluster.leastRequest.activeRequestBias = value }
            }
        case prefix + "ring_hash.v3.RingHash":
            defer { c.finish(known: ["hash_function", "minimum_ring_size", "maximum_ring_size", "use_hostname_for_hashing",
                                     "hash_balance_factor", "consistent_hashing_lb_config", "locality_weighted_lb_config"]) }
            cluster.lbPolicy = .ringHash
            if let n = c.integer("minimum_ring_size", in: 1...8_388_608) { cluster.ringHash.minimumRingSize = UInt64(n) }
            if let n = c.integer("maximum_ring_size", in: 1...8_388_608) { cluster.ringHash.maximumRingSize = UInt64(n) }
            if let function = c.string("hash_function"), function != "XX_HASH", function != "DEFAULT_HASH" {
                c.diagnostics.error(c.valueLocation(of: "hash_function"), c.join("hash_function"),
                                    "hash_function \(function) is not supported yet by Ferry", fix: "use XX_HASH (the default)")
            }
        case prefix + "maglev.v3.Maglev":
            defer { c.finish(known: ["table_size", "consistent_hashing_lb_config", "locality_weighted_lb_config"]) }
            cluster.lbPolicy = .maglev
            if let n = c.integer("table_size", in: 1...5_000_011) {
                if MaglevConfig.isPrime(UInt64(n)) {
                    cluster.maglev.tableSize = UInt64(n)
                } else {
                    c.diagnostics.error(c.valueLocation(of: "table_size"), c.join("table_size"), "table_size \(n) is not a prime number",
                                        fix: "use a prime such as 65537 (the default) or 5000011")
                }
            }
        default:
            return false
        }
        return true
    }
}
