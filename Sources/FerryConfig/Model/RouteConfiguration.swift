/// `envoy.config.route.v3.RouteConfiguration`: virtual hosts in order, plus header mutations
/// that apply to every route.
public struct RouteConfiguration: Sendable {
    public var name: String = ""
    public var virtualHosts: [VirtualHost] = []
    public var requestHeaders = HeaderMutations()
    public var responseHeaders = HeaderMutations()
    /// Headers stripped from requests that come from outside (`internal_only_headers`).
    public var internalOnlyHeaders: [String] = []
    /// Route entry (most specific) mutations are applied last when false; Envoy's default.
    public var mostSpecificHeaderMutationsWins = false
    /// Ignore the `:authority` port when matching domains.
    public var ignorePortInHostMatching = false
    /// Limit for direct_response bodies read from files (default 4096, as Envoy).
    public var maxDirectResponseBodySizeBytes: UInt32 = 4096
    /// Per-filter settings for every route (the least specific level).
    public var typedPerFilterConfig: [String: FilterOverride] = [:]
    public var location: SourceLocation = .unknown

    public init() {}

    static func decode(_ r: ObjectReader, context: DecodeContext) -> RouteConfiguration {
        defer { r.finish() }
        var config = RouteConfiguration()
        config.location = r.node.location
        config.name = r.string("name") ?? ""
        _ = r.bool("validate_clusters")  // clusters are always validated for static route tables
        config.mostSpecificHeaderMutationsWins = r.bool("most_specific_header_mutations_wins") ?? false
        config.ignorePortInHostMatching = r.bool("ignore_port_in_host_matching") ?? false
        config.maxDirectResponseBodySizeBytes = r.uint32("max_direct_response_body_size_bytes") ?? 4096
        config.internalOnlyHeaders = r.strings("internal_only_headers").map { $0.value.lowercased() }
        config.requestHeaders = HeaderMutations.decode(r, prefix: "request_")
        config.responseHeaders = HeaderMutations.decode(r, prefix: "response_")
        config.typedPerFilterConfig = FilterOverride.decodeMap(r)
        config.virtualHosts = r.objects("virtual_hosts", "envoy.config.route.v3.VirtualHost").compactMap {
            VirtualHost.decode($0, context: context, maxBody: config.maxDirectResponseBodySizeBytes)
        }
        return config
    }
}

/// `envoy.config.route.v3.VirtualHost`.
public struct VirtualHost: Sendable {
    public var name: String
    public var domains: [String]
    public var routes: [Route]
    public var requestHeaders = HeaderMutations()
    public var responseHeaders = HeaderMutations()
    public var includeRequestAttemptCount = false
    public var includeAttemptCountInResponse = false
    public var retryPolicy: RetryPolicy?
    /// Request bytes kept for retries (`per_request_buffer_limit_bytes` / `request_body_buffer_limit`).
    public var retryBufferLimit: UInt64?
    /// Per-filter settings for this host's routes.
    public var typedPerFilterConfig: [String: FilterOverride] = [:]
    /// Descriptors for the local rate limit filter, with or instead of the route's.
    public var rateLimits: [RouteRateLimit] = []
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String, domains: [String], routes: [Route]) {
        self.name = name
        self.domains = domains
        self.routes = routes
    }

    static func decode(_ r: ObjectReader, context: DecodeContext, maxBody: UInt32) -> VirtualHost? {
        defer { r.finish() }
        let name = r.requiredString("name", fix: "give the virtual host a name, e.g. `name: backend`") ?? ""
        var domains: [String] = []
        for (domain, location) in r.strings("domains") {
            if let problem = VirtualHost.domainProblem(domain) {
                r.diagnostics.error(location, r.join("domains"), "domain \"\(domain)\" \(problem)",
                                    fix: "use \"*\", \"*.example.com\", \"example.*\", \"example.com\" or \"example.com:8080\"")
                continue
            }
            domains.append(domain.lowercased())
        }
        if domains.isEmpty && !r.has("domains") {
            r.diagnostics.error(r.node.location, r.join("domains"), "a virtual host needs at least one domain",
                                fix: "add `domains: [\"*\"]` to match every host")
        }
        var host = VirtualHost(name: name, domains: domains, routes: [])
        host.location = r.node.location
        host.path = r.path
        host.requestHeaders = HeaderMutations.decode(r, prefix: "request_")
        host.responseHeaders = HeaderMutations.decode(r, prefix: "response_")
        host.includeRequestAttemptCount = r.bool("include_request_attempt_count") ?? false
        host.includeAttemptCountInResponse = r.bool("include_attempt_count_in_response") ?? false
        host.retryPolicy = r.object("retry_policy", "envoy.config.route.v3.RetryPolicy").map(RetryPolicy.decode)
        host.retryBufferLimit = Route.decodeBufferLimit(r)
        host.typedPerFilterConfig = FilterOverride.decodeMap(r)
        host.rateLimits = RouteRateLimit.decodeList(r)
        host.routes = r.objects("routes", "envoy.config.route.v3.Route").compactMap {
            Route.decode($0, context: context, maxBody: maxBody)
        }
        return host
    }

    /// Envoy allows one wildcard, only at the start or the end, and not alone next to a dot-less name.
    static func domainProblem(_ domain: String) -> String? {
        if domain.isEmpty { return "is empty" }
        if domain == "*" { return nil }
        let stars = domain.filter { $0 == "*" }.count
        if stars > 1 { return "has more than one wildcard" }
        if stars == 1 && !(domain.hasPrefix("*") || domain.hasSuffix("*")) {
            return "has a wildcard in the middle; only a leading or trailing * is allowed"
        }
        if domain.contains(where: { $0 == " " || $0 == "/" }) { return "contains a space or '/'" }
        return nil
    }
}
