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
    public var dnsRefreshRate: Duration = .milliseconds(5000)
    public var dnsLookupFamily: DNSLookupFamily = .auto
    public var localityWeighted = false
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
            if policy != .roundRobin {
                r.diagnostics.error(r.valueLocation(of: "lb_policy"), r.join("lb_policy"),
                                    "lb_policy \(policy.rawValue) is not supported yet by Ferry",
                                    fix: "use ROUND_ROBIN (weighted by load_balancing_weight)")
            }
            cluster.lbPolicy = policy
        }
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
        }
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
        if let explicit = o.object("explicit_http_config", "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig") {
            defer { explicit.finish(known: ["http_protocol_options", "http2_protocol_options", "http3_protocol_options"]) }
            if let http1 = explicit.object("http_protocol_options", "envoy.config.core.v3.Http1ProtocolOptions") {
                http1.finish()
            }
        }
    }

    static func decodeCommonOptions(_ c: ObjectReader, into cluster: inout Cluster) {
        defer { c.finish() }
        if let idle = c.duration("idle_timeout") { cluster.idleTimeout = idle }
        if let max = c.uint32("max_requests_per_connection") { cluster.maxRequestsPerConnection = max == 0 ? nil : max }
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
        return LbEndpoint(address: address, hostname: endpoint.string("hostname") ?? "", weight: weight)
    }
}
