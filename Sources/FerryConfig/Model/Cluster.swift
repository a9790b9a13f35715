/// `envoy.config.cluster.v3.Cluster`: a named group of upstream endpoints and how to reach them.
public struct Cluster: Sendable {
    public enum DiscoveryType: String, ConfigEnum {
        case staticType = "STATIC"
        case strictDNS = "STRICT_DNS"
        case logicalDNS = "LOGICAL_DNS"
        case eds = "EDS"
        case originalDst = "ORIGINAL_DST"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public enum LbPolicy: String, ConfigEnum {
        case roundRobin = "ROUND_ROBIN"
        case leastRequest = "LEAST_REQUEST"
        case ringHash = "RING_HASH"
        case random = "RANDOM"
        case maglev = "MAGLEV"
        case clusterProvided = "CLUSTER_PROVIDED"
        case loadBalancingPolicyConfig = "LOAD_BALANCING_POLICY_CONFIG"
        public var protoNumber: Int {
            switch self {
            case .roundRobin: 0
            case .leastRequest: 1
            case .ringHash: 2
            case .random: 3
            case .maglev: 5
            case .clusterProvided: 6
            case .loadBalancingPolicyConfig: 7
            }
        }
    }

    public enum DNSLookupFamily: String, ConfigEnum {
        case auto = "AUTO"
        case v4Only = "V4_ONLY"
        case v6Only = "V6_ONLY"
        case v4Preferred = "V4_PREFERRED"
        case all = "ALL"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public var name: String
    public var type: DiscoveryType = .staticType
    public var connectTimeout: Duration = .seconds(5)
    public var lbPolicy: LbPolicy = .roundRobin
    public var loadAssignment = ClusterLoadAssignment()
    /// Read/write buffer limit per upstream connection (Envoy default 1 MiB).
    public var perConnectionBufferLimitBytes: UInt32 = 1_048_576
    /// nil = no limit.
    public var maxRequestsPerConnection: UInt32?
    /// Idle time after which an unused upstream connection is closed (Envoy default 1 hour).
    public var idleTimeout: Duration = .seconds(3600)
    /// `common_http_protocol_options.max_stream_duration`: how long one upstream request may
    /// last (504 `UMSDR` after it); nil when unset or zero.
    public var maxStreamDuration: Duration?
    public var dnsRefreshRate: Duration = .milliseconds(5000)
    public var dnsLookupFamily: DNSLookupFamily = .auto
    public var localityWeighted = false
    /// `common_lb_config.healthy_panic_threshold` in percent (Envoy's default 50; 0 disables):
    /// below it, a priority level balances over all its hosts, healthy or not.
    public var healthyPanicThreshold: Double = 50
    /// `least_request_lb_config`, `ring_hash_lb_config`, `maglev_lb_config` (used by their policy).
    public var leastRequest = LeastRequestConfig()
    public var ringHash = RingHashConfig()
    public var maglev = MaglevConfig()
    /// `slow_start_config` of round robin or least request.
    public var slowStart: SlowStartConfig?
    /// Ferry's peak-EWMA balancer, chosen through `load_balancing_policy`.
    public var peakEWMA: PeakEWMAConfig?
    public var circuitBreakers = CircuitBreakers()
    /// `health_checks` and `common_lb_config.ignore_new_hosts_until_first_hc` (HealthCheckConfig.swift).
    public var activeHealthChecking = ActiveHealthChecking()
    /// `outlier_detection`; nil when the cluster has none (no detector runs).
    public var outlierDetection: OutlierDetection?
    /// `transport_socket` with an UpstreamTlsContext (TlsContext+Decode.swift); nil = plain TCP.
    public var upstreamTls: UpstreamTlsContext?
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String) { self.name = name }

    static func decode(_ r: ObjectReader, context: DecodeContext) -> Cluster? {
        defer { r.finish() }
        guard let name = r.requiredString("name", fix: "give the cluster a name, e.g. `name: backend`") else {
            r.skipRemaining()
            return nil
        }
        var cluster = Cluster(name: name)
        cluster.location = r.node.location
        cluster.path = r.path
        _ = r.string("alt_stat_name").map { _ in
            r.diagnostics.error(r.location(of: "alt_stat_name"), r.join("alt_stat_name"),
                                "Cluster.alt_stat_name is not supported yet by Ferry", fix: "remove it")
        }
        if let type = r.enumeration("type", DiscoveryType.self) {
            if type == .eds || type == .originalDst {
                r.diagnostics.error(r.valueLocation(of: "type"), r.join("type"), "cluster type \(type.rawValue) is not supported yet by Ferry",
                                    fix: "use STATIC, STRICT_DNS or LOGICAL_DNS")
            }
            cluster.type = type
        }
        cluster.connectTimeout = r.duration("connect_timeout", positive: true) ?? .seconds(5)
        if let policy = r.enumeration("lb_policy", LbPolicy.self) {
            if ![.roundRobin, .random, .leastRequest, .ringHash, .maglev, .loadBalancingPolicyConfig].contains(policy) {
                r.diagnostics.error(r.valueLocation(of: "lb_policy"), r.join("lb_policy"),
                                    "lb_policy \(policy.rawValue) is not supported yet by Ferry",
                                    fix: "use ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV")
            }
            cluster.lbPolicy = policy
        }
        decodeLbConfigs(r, into: &cluster)
        decodeLoadBalancingPolicy(r, into: &cluster)
        if cluster.lbPolicy == .loadBalancingPolicyConfig && cluster.peakEWMA == nil && !r.has("load_balancing_policy") {
            r.diagnostics.error(r.valueLocation(of: "lb_policy"), r.join("lb_policy"),
                                "lb_policy LOAD_BALANCING_POLICY_CONFIG needs load_balancing_policy",
                                fix: "add load_balancing_policy, or use another lb_policy")
        }
        if let c = r.object("circuit_breakers", "envoy.config.cluster.v3.CircuitBreakers") { cluster.circuitBreakers = .decode(c) }
        cluster.upstreamTls = UpstreamTlsContext.decode(transportSocketOf: r, context: context)
        cluster.outlierDetection = r.object("outlier_detection", "envoy.config.cluster.v3.OutlierDetection").map(OutlierDetection.decode)
        if let limit = r.uint32("per_connection_buffer_limit_bytes") { cluster.perConnectionBufferLimitBytes = limit }
        cluster.maxRequestsPerConnection = r.uint32("max_requests_per_connection").flatMap { $0 == 0 ? nil : $0 }
        if let rate = r.duration("dns_refresh_rate") {
            if rate < .milliseconds(1) {
                r.diagnostics.error(r.valueLocation(of: "dns_refresh_rate"), r.join("dns_refresh_rate"),
                                    "must be at least 1ms", fix: "use a value such as 5s")
            } else {
                cluster.dnsRefreshRate = rate
            }
        }
        if r.bool("respect_dns_ttl") == true {
            r.diagnostics.error(r.location(of: "respect_dns_ttl"), r.join("respect_dns_ttl"),
                                "respect_dns_ttl is not supported yet by Ferry (the system resolver reports no TTL)",
                                fix: "remove it; Ferry re-resolves every dns_refresh_rate")
        }
        cluster.dnsLookupFamily = r.enumeration("dns_lookup_family", DNSLookupFamily.self) ?? .auto
        if let common = r.object("common_lb_config", "envoy.config.cluster.v3.Cluster.CommonLbConfig") {
            defer { common.finish() }
            if let weighted = common.object("locality_weighted_lb_config",
                                            "envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig") {
                weighted.finish()
                cluster.localityWeighted = true
            }
            cluster.activeHealthChecking.ignoreNewHostsUntilFirstHC = common.bool("ignore_new_hosts_until_first_hc") ?? false
            if let panic = common.object("healthy_panic_threshold", "envoy.type.v3.Percent") {
                defer { panic.finish(known: ["value"]) }
                if let value = panic.double("value", in: 0...100, fix: "use a percentage between 0 and 100 (Envoy's default is 50)") {
                    cluster.healthyPanicThreshold = value
                }
            }
        }
        cluster.activeHealthChecking.checks = HealthCheck.decodeList(r)
        if let assignment = r.object("load_assignment", "envoy.config.endpoint.v3.ClusterLoadAssignment") {
            cluster.loadAssignment = ClusterLoadAssignment.decode(assignment, clusterName: name)
        }
        // Upstream HTTP options: the v3 extension form and the deprecated cluster fields.
        for entry in r.map("typed_extension_protocol_options") {
            let path = r.join("typed_extension_protocol_options.\(entry.key)")
            guard let (url, options) = ObjectReader.any(entry.value, path: path, diagnostics: r.diagnostics) else { continue }
            guard url.hasSuffix("envoy.extensions.upstreams.http.v3.HttpProtocolOptions") else {
                r.diagnostics.error(entry.keyLocation, path, "protocol options \(url) are not supported yet by Ferry",
                                    fix: "remove this entry")
                continue
            }
            decodeUpstreamProtocolOptions(options, into: &cluster)
        }
        if let common = r.object("common_http_protocol_options", "envoy.config.core.v3.HttpProtocolOptions") {
            decodeCommonOptions(common, into: &cluster)
        }
        if let http1 = r.object("http_protocol_options", "envoy.config.core.v3.Http1ProtocolOptions") {
            http1.finish()
        }
        if let upstream = r.object("upstream_http_protocol_options", "envoy.config.core.v3.UpstreamHttpProtocolOptions") {
            upstream.finish()
        }
        if cluster.type != .staticType && cluster.loadAssignment.endpointCount == 0 && !r.has("load_assignment") {
            r.diagnostics.error(r.node.location, r.join("load_assignment"), "a \(cluster.type.rawValue) cluster needs load_assignment",
                                fix: "add load_assignment with the host names to resolve")
        }
        if cluster.type == .logicalDNS && cluster.loadAssignment.endpointCount != 1 && r.has("load_assignment") {
            r.diagnostics.error(r.valueLocation(of: "load_assignment"), r.join("load_assignment"),
                                "LOGICAL_DNS clusters must have exactly one endpoint (found \(cluster.loadAssignment.endpointCount))",
                                fix: "keep one endpoint, or use STRICT_DNS for several")
        }
        return cluster
    }

    static func decodeUpstreamProtocolOptions(_ o: ObjectReader, into cluster: inout Cluster) {
        defer {
            // Fields of envoy.extensions.upstreams.http.v3.HttpProtocolOptions (numbers 1-11).
            o.finish(known: ["common_http_protocol_options", "upstream_http_protocol_options", "explicit_http_config",
                             "use_downstream_protocol_config", "auto_config", "http_filters", "header_validation_config",
                             "outlier_detection", "request_mirror_policies", "hash_policy", "retry_policy"])
        }
        if let common = o.object("common_http_protocol_options", "envoy.config.core.v3.HttpProtocolOptions") {
            decodeCommonOptions(common, into: &cluster)
        }
        if let upstream = o.object("upstream_http_protocol_options", "envoy.config.core.v3.UpstreamHttpProtocolOptions") {
            upstream.finish()  // auto_sni, auto_san_validation, override_auto_sni_header: "not supported yet" by name
        }
        if let explicit = o.object("explicit_http_config", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig") {
            defer { explicit.finish(known: ["http_protocol_options", "http2_protocol_options", "http3_protocol_options"]) }
            if let http1 = explicit.object("http_protocol_options", "envoy.config.core.v3.Http1ProtocolOptions") {
                http1.finish()
            }
        }
    }

    /// The per-policy settings, with Envoy's defaults and bounds.
    static func decodeLbConfigs(_ r: ObjectReader, into cluster: inout Cluster) {
        if let c = r.object("round_robin_lb_config", "envoy.config.cluster.v3.Cluster.RoundRobinLbConfig") {
            defer { c.finish(known: ["slow_start_config", "locality_lb_config"]) }
            if let s = c.object("slow_start_config", "envoy.config.cluster.v3.Cluster.SlowStartConfig") { cluster.slowStart = .decode(s) }
        }
        if let c = r.object("least_request_lb_config", "envoy.config.cluster.v3.Cluster.LeastRequestLbConfig") {
            defer { c.finish(known: ["choice_count", "active_request_bias", "slow_start_config", "locality_lb_config",
                                     "enable_full_scan", "selection_method"]) }
            if let s = c.object("slow_start_config", "envoy.config.cluster.v3.Cluster.SlowStartConfig") { cluster.slowStart = .decode(s) }
            if let n = c.uint32("choice_count", in: 2...Int64(UInt32.max), fix: "use 2 (power of two choices) or more") {
                cluster.leastRequest.choiceCount = n
            }
            if let bias = c.object("active_request_bias", "envoy.config.core.v3.RuntimeDouble") {
                defer { bias.finish(known: ["default_value", "runtime_key"]) }
                _ = bias.string("runtime_key")
                if let value = bias.double("default_value", in: 0...1_000_000, fix: "use a bias of 0 or more (Envoy's default is 1.0)") {
                    cluster.leastRequest.activeRequestBias = value
                }
            }
        }
        if let c = r.object("ring_hash_lb_config", "envoy.config.cluster.v3.Cluster.RingHashLbConfig") {
            defer { c.finish(known: ["minimum_ring_size", "hash_function", "maximum_ring_size"]) }
            let limit: Int64 = 8_388_608
            if let n = c.integer("minimum_ring_size", in: 1...limit, fix: "use a size between 1 and 8388608") {
                cluster.ringHash.minimumRingSize = UInt64(n)
            }
            if let n = c.integer("maximum_ring_size", in: 1...limit, fix: "use a size between 1 and 8388608") {
                cluster.ringHash.maximumRingSize = UInt64(n)
            }
            if let function = c.string("hash_function"), function != "XX_HASH" {
                c.diagnostics.error(c.valueLocation(of: "hash_function"), c.join("hash_function"),
                                    "hash_function \(function) is not supported yet by Ferry", fix: "use XX_HASH (the default)")
            }
            if cluster.ringHash.minimumRingSize > cluster.ringHash.maximumRingSize {
                c.diagnostics.error(c.node.location, c.path, "minimum_ring_size is larger than maximum_ring_size",
                                    fix: "make minimum_ring_size at most maximum_ring_size")
            }
        }
        if let c = r.object("maglev_lb_config", "envoy.config.cluster.v3.Cluster.MaglevLbConfig") {
            defer { c.finish(known: ["table_size"]) }
            if let n = c.integer("table_size", in: 1...5_000_011, fix: "use a prime such as 65537 (the default)") {
                if MaglevConfig.isPrime(UInt64(n)) {
                    cluster.maglev.tableSize = UInt64(n)
                } else {
                    c.diagnostics.error(c.valueLocation(of: "table_size"), c.join("table_size"), "table_size \(n) is not a prime number",
                                        fix: "use a prime such as 65537 (the default) or 5000011")
                }
            }
        }
    }

    static func decodeCommonOptions(_ c: ObjectReader, into cluster: inout Cluster) {
        defer { c.finish() }
        if let idle = c.duration("idle_timeout") { cluster.idleTimeout = idle }
        if let max = c.uint32("max_requests_per_connection") { cluster.maxRequestsPerConnection = max == 0 ? nil : max }
        if let duration = c.duration("max_stream_duration") { cluster.maxStreamDuration = duration == .zero ? nil : duration }
    }
}

/// `envoy.config.endpoint.v3.ClusterLoadAssignment`: endpoints grouped by locality and priority.
public struct ClusterLoadAssignment: Sendable {
    public var localities: [LocalityLbEndpoints] = []
    /// Percent; 140 means 1.4 (Envoy's default).
    public var overprovisioningFactor: UInt32 = 140

    public init(localities: [LocalityLbEndpoints] = []) { self.localities = localities }

    public var endpointCount: Int { localities.reduce(0) { $0 + $1.endpoints.count } }

    static func decode(_ r: ObjectReader, clusterName: String) -> ClusterLoadAssignment {
        defer { r.finish() }
        var assignment = ClusterLoadAssignment()
        if let name = r.string("cluster_name"), name != clusterName {
            // Envoy requires cluster_name but ignores it for static assignments; a mismatch is a likely copy-paste slip.
            r.diagnostics.warning(r.valueLocation(of: "cluster_name"), r.join("cluster_name"),
                                  "cluster_name \"\(name)\" differs from the cluster's name \"\(clusterName)\"",
                                  fix: "set it to \(clusterName)")
        }
        if let policy = r.object("policy", "envoy.config.endpoint.v3.ClusterLoadAssignment.Policy") {
            defer { policy.finish() }
            if let factor = policy.uint32("overprovisioning_factor", in: 1...Int64(UInt32.max)) {
                assignment.overprovisioningFactor = factor
            }
        }
        assignment.localities = r.objects("endpoints", "envoy.config.endpoint.v3.LocalityLbEndpoints").compactMap(LocalityLbEndpoints.decode)
        return assignment
    }
}

/// `envoy.config.endpoint.v3.LocalityLbEndpoints`.
public struct LocalityLbEndpoints: Sendable {
    public var locality: Locality = Locality()
    public var endpoints: [LbEndpoint] = []
    /// nil = no locality weight (the locality is skipped when locality-weighted balancing is on).
    public var weight: UInt32?
    public var priority: UInt32 = 0

    public init(endpoints: [LbEndpoint] = [], priority: UInt32 = 0) {
        self.endpoints = endpoints
        self.priority = priority
    }

    static func decode(_ r: ObjectReader) -> LocalityLbEndpoints? {
        defer { r.finish() }
        var group = LocalityLbEndpoints()
        if let locality = r.object("locality", "envoy.config.core.v3.Locality") { group.locality = Locality.decode(locality) }
        group.weight = r.uint32("load_balancing_weight", in: 1...Int64(UInt32.max))
        group.priority = r.uint32("priority", in: 0...128) ?? 0
        group.endpoints = r.objects("lb_endpoints", "envoy.config.endpoint.v3.LbEndpoint").compactMap(LbEndpoint.decode)
        return group
    }
}

/// `envoy.config.core.v3.Locality`.
public struct Locality: Sendable, Hashable {
    public var region = ""
    public var zone = ""
    public var subZone = ""

    public init(region: String = "", zone: String = "", subZone: String = "") {
        self.region = region
        self.zone = zone
        self.subZone = subZone
    }

    static func decode(_ r: ObjectReader) -> Locality {
        defer { r.finish() }
        return Locality(region: r.string("region") ?? "", zone: r.string("zone") ?? "", subZone: r.string("sub_zone") ?? "")
    }
}

/// `envoy.config.endpoint.v3.LbEndpoint`.
public struct LbEndpoint: Sendable {
    public var address: SocketAddress
    public var hostname: String
    public var weight: UInt32
    /// `health_status` from the config: UNHEALTHY, DRAINING and TIMEOUT keep the endpoint out of
    /// rotation (Envoy's `/failed_eds_health`); UNKNOWN, HEALTHY and DEGRADED do not.
    public var healthStatus: HealthStatus = .unknown
    /// `endpoint.health_check_config`: the port active health checks use instead of the
    /// endpoint's own; `disable_active_health_check` leaves the endpoint unchecked (and healthy).
    public var healthCheckPort: Int?
    public var disableActiveHealthCheck = false

    public init(address: SocketAddress, hostname: String = "", weight: UInt32 = 1) {
        self.address = address
        self.hostname = hostname
        self.weight = weight
    }

    static func decode(_ r: ObjectReader) -> LbEndpoint? {
        defer { r.finish() }
        guard let endpoint = r.object("endpoint", "envoy.config.endpoint.v3.Endpoint") else {
            r.diagnostics.error(r.node.location, r.join("endpoint"), "lb endpoint has no endpoint",
                                fix: "write `endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8080}}}`")
            r.skipRemaining()
            return nil
        }
        defer { endpoint.finish() }
        guard let addressReader = endpoint.object("address", "envoy.config.core.v3.Address") else {
            endpoint.diagnostics.error(endpoint.node.location, endpoint.join("address"), "required field is missing",
                                       fix: "add `address: {socket_address: {address: ..., port_value: ...}}`")
            endpoint.skipRemaining()
            r.skipRemaining()
            return nil
        }
        guard let address = SocketAddress.decodeAddress(addressReader) else { return nil }
        if address.port == 0 {
            addressReader.diagnostics.error(address.location, addressReader.join("socket_address.port_value"),
                                            "an upstream endpoint needs a port", fix: "set port_value")
        }
        let weight = r.uint32("load_balancing_weight", in: 1...Int64(UInt32.max)) ?? 1
        var lb = LbEndpoint(address: address, hostname: endpoint.string("hostname") ?? "", weight: weight)
        lb.healthStatus = r.enumeration("health_status", HealthStatus.self) ?? .unknown
        if let hc = endpoint.object("health_check_config", "envoy.config.endpoint.v3.Endpoint.HealthCheckConfig") {
            defer { hc.finish(known: ["port_value", "hostname", "address", "disable_active_health_check"]) }
            if let port = hc.uint32("port_value", in: 1...65535, fix: "use the port the health checks should reach") {
                lb.healthCheckPort = Int(port)
            }
            lb.disableActiveHealthCheck = hc.bool("disable_active_health_check") ?? false
        }
        return lb
    }
}

/// `least_request_lb_config`: how many random hosts are compared (`choice_count`, default 2) and
/// how strongly active requests weigh against host weights (`active_request_bias`, default 1.0).
public struct LeastRequestConfig: Sendable, Equatable {
    public var choiceCount: UInt32 = 2
    public var activeRequestBias: Double = 1.0
    public init() {}
}

/// `ring_hash_lb_config` (xxHash only): the ring's size bounds, Envoy's defaults 1024 and 8M.
public struct RingHashConfig: Sendable, Equatable {
    public var minimumRingSize: UInt64 = 1024
    public var maximumRingSize: UInt64 = 8_388_608
    public init() {}
}

/// `maglev_lb_config`: the lookup table size, a prime (Envoy's default 65537).
public struct MaglevConfig: Sendable, Equatable {
    public var tableSize: UInt64 = 65537
    public init() {}

    static func isPrime(_ n: UInt64) -> Bool {
        guard n >= 2 else { return false }
        if n < 4 { return true }
        if n % 2 == 0 { return false }
        var d: UInt64 = 3
        while d * d <= n {
            if n % d == 0 { return false }
            d += 2
        }
        return true
    }
}

/// `envoy.config.core.v3.HealthStatus`.
public enum HealthStatus: String, ConfigEnum {
    case unknown = "UNKNOWN", healthy = "HEALTHY", unhealthy = "UNHEALTHY", draining = "DRAINING", timeout = "TIMEOUT",
         degraded = "DEGRADED"
    public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    /// Whether Envoy keeps such an endpoint out of rotation.
    public var excludes: Bool { self == .unhealthy || self == .draining || self == .timeout }
}

/// `slow_start_config` (round robin and least request): endpoints younger than `slow_start_window`
/// get a growing share of their weight; `aggression` (default 1.0) shapes the ramp and
/// `min_weight_percent` (default 10) bounds it from below.
public struct SlowStartConfig: Sendable, Equatable {
    public var window: Duration
    public var aggression: Double = 1.0
    public var minWeightPercent: Double = 10

    public init(window: Duration) { self.window = window }

    static func decode(_ r: ObjectReader) -> SlowStartConfig? {
        defer { r.finish(known: ["slow_start_window", "aggression", "min_weight_percent"]) }
        var config = SlowStartConfig(window: .zero)
        if let a = r.object("aggression", "envoy.config.core.v3.RuntimeDouble") {
            defer { a.finish(known: ["default_value", "runtime_key"]) }
            _ = a.string("runtime_key")
            if let v = a.double("default_value", in: 0.000001...1_000_000, fix: "use an aggression above 0 (1.0 ramps linearly)") {
                config.aggression = v
            }
        }
        if let m = r.object("min_weight_percent", "envoy.type.v3.Percent") {
            defer { m.finish(known: ["value"]) }
            if let v = m.double("value", in: 0...100) { config.minWeightPercent = v }
        }
        guard let window = r.duration("slow_start_window", positive: true) else {
            if !r.has("slow_start_window") {
                r.diagnostics.error(r.node.location, r.join("slow_start_window"), "slow start needs a slow_start_window",
                                    fix: "add `slow_start_window: 60s`")
            }
            return nil
        }
        config.window = window
        return config
    }
}
