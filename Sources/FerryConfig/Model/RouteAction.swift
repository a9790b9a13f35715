/// `envoy.config.route.v3.RouteAction`: forward to a cluster.
public struct RouteAction: Sendable {
    public enum ClusterSpecifier: Sendable {
        case cluster(String)
        /// Cluster named by a request header.
        case header(String)
        case weighted([ClusterWeight])
    }

    public enum HostRewrite: Sendable {
        case literal(String)
        /// Use the upstream host's name (DNS clusters) or address.
        case auto
        case header(String)
        case pathRegex(CompiledRegex, substitution: String)
    }

    public enum NotFoundCode: String, ConfigEnum {
        case serviceUnavailable = "SERVICE_UNAVAILABLE"
        case notFound = "NOT_FOUND"
        case internalServerError = "INTERNAL_SERVER_ERROR"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
        public var status: Int {
            switch self {
            case .serviceUnavailable: 503
            case .notFound: 404
            case .internalServerError: 500
            }
        }
    }

    public var cluster: ClusterSpecifier
    public var clusterLocation: SourceLocation = .unknown
    public var clusterPath: String = ""
    public var clusterNotFoundCode: NotFoundCode = .serviceUnavailable
    public var prefixRewrite: String?
    public var regexRewrite: (regex: CompiledRegex, substitution: String)?
    public var hostRewrite: HostRewrite?
    public var appendXForwardedHost = false
    /// Upstream response timeout; nil = Envoy's default of 15 s; zero disables it.
    public var timeout: Duration?
    /// Per-stream idle timeout overriding the HCM's stream_idle_timeout; zero disables it.
    public var idleTimeout: Duration?
    public var hashPolicy: [HashPolicy] = []
    public var upgradeConfigs: [UpgradeConfig] = []
    public var retryPolicy: RetryPolicy?
    /// Descriptors for the local rate limit filter (see `RouteRateLimit`).
    public var rateLimits: [RouteRateLimit] = []
    /// `include_vh_rate_limits`: the virtual host's rate limits apply too, whatever the filter's `vh_rate_limits`.
    public var includeVhRateLimits = false
    /// `max_stream_duration`: caps the whole stream (nil: the connection manager's own cap).
    public var maxStreamDuration: MaxStreamDuration?

    /// `envoy.config.route.v3.RouteAction.MaxStreamDuration`.
    public struct MaxStreamDuration: Sendable, Equatable {
        /// Caps the stream unless a gRPC timeout applies; zero turns every cap off for the route.
        public var maxStreamDuration: Duration?
        /// Set: a request's `grpc-timeout` header caps the stream instead, at most this long
        /// (zero: no maximum). Unset: `grpc-timeout` is ignored.
        public var grpcTimeoutHeaderMax: Duration?
        /// Subtracted from the `grpc-timeout` value (to leave time for the network).
        public var grpcTimeoutHeaderOffset: Duration?

        public init(maxStreamDuration: Duration? = nil, grpcTimeoutHeaderMax: Duration? = nil,
                    grpcTimeoutHeaderOffset: Duration? = nil) {
            self.maxStreamDuration = maxStreamDuration
            self.grpcTimeoutHeaderMax = grpcTimeoutHeaderMax
            self.grpcTimeoutHeaderOffset = grpcTimeoutHeaderOffset
        }

        static func decode(_ r: ObjectReader) -> MaxStreamDuration {
            defer { r.finish() }
            return MaxStreamDuration(maxStreamDuration: r.duration("max_stream_duration"),
                                     grpcTimeoutHeaderMax: r.duration("grpc_timeout_header_max"),
                                     grpcTimeoutHeaderOffset: r.duration("grpc_timeout_header_offset"))
        }
    }

    public init(cluster: ClusterSpecifier) { self.cluster = cluster }

    static func decode(_ r: ObjectReader, context: DecodeContext) -> RouteAction? {
        defer { r.finish() }
        var specifier: ClusterSpecifier?
        switch r.oneOf(["cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin",
                        "inline_cluster_specifier_plugin"], required: true, what: "cluster specifier") {
        case "cluster": specifier = r.requiredString("cluster").map { .cluster($0) }
        case "cluster_header":
            if let header = r.requiredString("cluster_header") {
                if header.hasPrefix(":") {
                    r.diagnostics.error(r.valueLocation(of: "cluster_header"), r.join("cluster_header"),
                                        "must name a regular header, not a pseudo-header", fix: "use a header such as x-cluster")
                } else {
                    specifier = .header(header.lowercased())
                }
            }
        case "weighted_clusters":
            if let weighted = r.object("weighted_clusters", "envoy.config.route.v3.WeightedCluster") {
                specifier = ClusterWeight.decodeWeighted(weighted).map { .weighted($0) }
            }
        default: break
        }
        var action = RouteAction(cluster: specifier ?? .cluster(""))
        action.clusterLocation = r.valueLocation(of: r.keys.first { ["cluster", "weighted_clusters", "cluster_header"].contains($0) } ?? "cluster")
        action.clusterPath = r.path
        action.clusterNotFoundCode = r.enumeration("cluster_not_found_response_code", NotFoundCode.self) ?? .serviceUnavailable
        if r.has("prefix_rewrite") && r.has("regex_rewrite") {
            r.diagnostics.error(r.location(of: "regex_rewrite"), r.join("regex_rewrite"),
                                "prefix_rewrite and regex_rewrite cannot both be set", fix: "keep one of them")
        }
        action.prefixRewrite = r.string("prefix_rewrite")
        if let sub = r.object("regex_rewrite", "envoy.type.matcher.v3.RegexMatchAndSubstitute") {
            action.regexRewrite = decodeRegexRewrite(sub)
        }
        switch r.oneOf(["host_rewrite_literal", "auto_host_rewrite", "host_rewrite_header", "host_rewrite_path_regex",
                        "host_rewrite"], required: false, what: "host rewrite") {
        case "host_rewrite_literal": action.hostRewrite = r.string("host_rewrite_literal").map { .literal($0) }
        case "auto_host_rewrite": if r.bool("auto_host_rewrite") == true { action.hostRewrite = .auto }
        case "host_rewrite_header": action.hostRewrite = r.string("host_rewrite_header").map { .header($0.lowercased()) }
        case "host_rewrite_path_regex":
            if let sub = r.object("host_rewrite_path_regex", "envoy.type.matcher.v3.RegexMatchAndSubstitute"),
               let (regex, substitution) = decodeRegexRewrite(sub) {
                action.hostRewrite = .pathRegex(regex, substitution: substitution)
            }
        default: break
        }
        action.appendXForwardedHost = r.bool("append_x_forwarded_host") ?? false
        action.timeout = r.duration("timeout")
        action.idleTimeout = r.duration("idle_timeout")
        action.hashPolicy = r.objects("hash_policy", "envoy.config.route.v3.RouteAction.HashPolicy").compactMap(HashPolicy.decode)
        action.upgradeConfigs = r.objects("upgrade_configs", "envoy.config.route.v3.RouteAction.UpgradeConfig")
            .compactMap { UpgradeConfig.decode($0, allowFilters: false) }
        action.retryPolicy = r.object("retry_policy", "envoy.config.route.v3.RetryPolicy").map(RetryPolicy.decode)
        action.rateLimits = RouteRateLimit.decodeList(r)
        action.includeVhRateLimits = r.bool("include_vh_rate_limits") ?? false
        action.maxStreamDuration = r.object("max_stream_duration", "envoy.config.route.v3.RouteAction.MaxStreamDuration")
            .map(MaxStreamDuration.decode)
        return specifier == nil ? nil : action
    }

    static func decodeRegexRewrite(_ r: ObjectReader) -> (CompiledRegex, String)? {
        defer { r.finish() }
        guard let pattern = r.object("pattern", "envoy.type.matcher.v3.RegexMatcher").flatMap(CompiledRegex.decode) else {
            if !r.has("pattern") {
                r.diagnostics.error(r.node.location, r.join("pattern"), "required field is missing",
                                    fix: "add `pattern: {regex: \"^/old/(.*)\"}`")
            }
            r.skipRemaining()
            return nil
        }
        return (pattern, r.string("substitution") ?? "")
    }
}

/// One entry of `weighted_clusters.clusters`.
public struct ClusterWeight: Sendable {
    public var name: String
    public var weight: UInt32
    public var requestHeaders = HeaderMutations()
    public var responseHeaders = HeaderMutations()
    public var hostRewriteLiteral: String?
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String, weight: UInt32) {
        self.name = name
        self.weight = weight
    }

    static func decodeWeighted(_ r: ObjectReader) -> [ClusterWeight]? {
        defer { r.finish() }
        var clusters: [ClusterWeight] = []
        for c in r.objects("clusters", "envoy.config.route.v3.WeightedCluster.ClusterWeight") {
            defer { c.finish() }
            guard let name = c.requiredString("name", fix: "name the cluster this share goes to") else {
                c.skipRemaining()
                continue
            }
            var weight = ClusterWeight(name: name, weight: c.uint32("weight") ?? 0)
            weight.location = c.valueLocation(of: "name")
            weight.path = c.join("name")
            weight.requestHeaders = HeaderMutations.decode(c, prefix: "request_")
            weight.responseHeaders = HeaderMutations.decode(c, prefix: "response_")
            weight.hostRewriteLiteral = c.string("host_rewrite_literal")
            clusters.append(weight)
        }
        let total = clusters.reduce(UInt64(0)) { $0 + UInt64($1.weight) }
        if !clusters.isEmpty, let declared = r.uint32("total_weight"), UInt64(declared) != total {
            // Envoy ignores the deprecated field; say so rather than refuse a config Envoy runs.
            r.diagnostics.warning(r.valueLocation(of: "total_weight"), r.join("total_weight"),
                                  "total_weight is \(declared) but the cluster weights add up to \(total); the weights are used as given",
                                  fix: "remove total_weight (deprecated) or make it \(total)")
        }
        return checkShares(clusters, r)
    }

    /// The `clusters` of a weighted_clusters (route or tcp_proxy), or nil after saying why they
    /// cannot split traffic: none, all weights 0, or a sum past UInt32.
    static func checkShares(_ clusters: [ClusterWeight], _ r: ObjectReader) -> [ClusterWeight]? {
        let total = clusters.reduce(UInt64(0)) { $0 + UInt64($1.weight) }
        if clusters.isEmpty {
            r.diagnostics.error(r.node.location, r.join("clusters"), "weighted_clusters needs at least one cluster",
                                fix: "add `clusters: [{name: a, weight: 80}, {name: b, weight: 20}]`")
        } else if total == 0 {
            r.diagnostics.error(r.node.location, r.join("clusters"), "the cluster weights add up to 0",
                                fix: "give at least one cluster a positive weight")
        } else if total > UInt64(UInt32.max) {
            r.diagnostics.error(r.node.location, r.join("clusters"), "the cluster weights add up to more than 4294967295",
                                fix: "use smaller weights")
        } else {
            return clusters
        }
        return nil
    }
}

/// `envoy.config.route.v3.RouteAction.HashPolicy`: what consistent-hash load balancers hash on.
public struct HashPolicy: Sendable {
    public enum Source: Sendable {
        case header(String, rewrite: (CompiledRegex, String)?)
        case cookie(name: String, ttl: Duration?, path: String?)
        case sourceIP
        case queryParameter(String)
    }

    public var source: Source
    public var terminal: Bool

    static func decode(_ r: ObjectReader) -> HashPolicy? {
        defer { r.finish() }
        let terminal = r.bool("terminal") ?? false
        var source: Source?
        switch r.oneOf(["header", "cookie", "connection_properties", "query_parameter", "filter_state"], required: true,
                       what: "hash policy") {
        case "header":
            if let h = r.object("header", "envoy.config.route.v3.RouteAction.HashPolicy.Header") {
                defer { h.finish() }
                let rewrite = h.object("regex_rewrite", "envoy.type.matcher.v3.RegexMatchAndSubstitute")
                    .flatMap(RouteAction.decodeRegexRewrite)
                if let name = h.requiredString("header_name") { source = .header(name.lowercased(), rewrite: rewrite) }
            }
        case "cookie":
            if let c = r.object("cookie", "envoy.config.route.v3.RouteAction.HashPolicy.Cookie") {
                defer { c.finish() }
                if let name = c.requiredString("name") {
                    source = .cookie(name: name, ttl: c.duration("ttl"), path: c.string("path"))
                } else {
                    c.skipRemaining()
                }
            }
        case "connection_properties":
            if let p = r.object("connection_properties", "envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties") {
                defer { p.finish() }
                if p.bool("source_ip") == true { source = .sourceIP } else {
                    p.diagnostics.error(p.node.location, p.path, "connection_properties hashes nothing unless source_ip is true",
                                        fix: "set `source_ip: true`")
                }
            }
        case "query_parameter":
            if let q = r.object("query_parameter", "envoy.config.route.v3.RouteAction.HashPolicy.QueryParameter") {
                defer { q.finish() }
                if let name = q.requiredString("name") { source = .queryParameter(name) }
            }
        case "filter_state":
            r.diagnostics.error(r.location(of: "filter_state"), r.join("filter_state"),
                                "hash_policy filter_state is not supported yet by Ferry",
                                fix: "hash on a header, cookie, query_parameter or connection_properties.source_ip")
            _ = r.raw("filter_state")
        default: break
        }
        return source.map { HashPolicy(source: $0, terminal: terminal) }
    }
}

/// `upgrade_configs` entry (HCM or route level).
public struct UpgradeConfig: Sendable {
    /// Lower-cased upgrade token, e.g. `websocket`.
    public var upgradeType: String
    public var enabled: Bool

    static func decode(_ r: ObjectReader, allowFilters: Bool) -> UpgradeConfig? {
        defer { r.finish() }
        guard let type = r.requiredString("upgrade_type", fix: "write `upgrade_type: websocket`") else {
            r.skipRemaining()
            return nil
        }
        if type.lowercased() == "connect" {
            r.diagnostics.error(r.valueLocation(of: "upgrade_type"), r.join("upgrade_type"), "CONNECT upgrades are not supported yet by Ferry",
                                fix: "remove this upgrade config")
            r.skipRemaining()
            return nil
        }
        return UpgradeConfig(upgradeType: type.lowercased(), enabled: r.bool("enabled") ?? true)
    }
}
