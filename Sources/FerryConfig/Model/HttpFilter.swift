/// One entry of `http_filters`, resolved to a filter Ferry implements.
public struct HttpFilter: Sendable {
    public enum Kind: Sendable {
        case router(RouterConfig)
        case healthCheck(HealthCheckConfig)
        case localRateLimit(LocalRateLimitConfig)
        case rateLimit(RateLimitConfig)
        case fault(FaultConfig)
        case circuitBreaker(CircuitBreakerFilterConfig)
        case fallback(FallbackConfig)
        case bulkhead(BulkheadConfig)
        case idempotency(IdempotencyConfig)
        case adaptiveConcurrency(AdaptiveConcurrencyConfig)
        case grpcStats(GRPCStatsConfig)
        /// `envoy.extensions.filters.http.grpc_web.v3.GrpcWeb` (no fields).
        case grpcWeb
        case grpcJSONTranscoder(GRPCJSONTranscoderConfig)
    }

    /// `envoy.extensions.filters.http.health_check.v3.HealthCheck`: answers (or marks) health
    /// check requests; fails them while the server is failed (`/healthcheck/fail`) or draining.
    public struct HealthCheckConfig: Sendable {
        /// Forward matching requests upstream instead of answering them.
        public var passThrough: Bool
        /// Which requests are health checks (all must match).
        public var headers: [HeaderMatcher]

        static func decode(_ r: ObjectReader) -> Kind? {
            defer { r.finish(known: ["pass_through_mode", "cache_time", "cluster_min_healthy_percentages", "headers"]) }
            guard let passThrough = r.bool("pass_through_mode") else {
                if !r.has("pass_through_mode") {
                    r.diagnostics.error(r.node.location, r.join("pass_through_mode"), "required field is missing",
                                        fix: "add `pass_through_mode: false` to answer health checks in Ferry itself")
                }
                return nil
            }
            let headers = r.objects("headers", "envoy.config.route.v3.HeaderMatcher").compactMap(HeaderMatcher.decode)
            if headers.isEmpty {
                r.diagnostics.error(r.node.location, r.join("headers"), "a health check filter needs headers to recognise its requests",
                                    fix: "add e.g. `headers: [{name: \":path\", string_match: {exact: /healthz}}]`")
            }
            return .healthCheck(HealthCheckConfig(passThrough: passThrough, headers: headers))
        }
    }

    /// Ferry's HTTP filters by config type (the router aside).
    static let decoders: [String: @Sendable (ObjectReader) -> Kind?] = [
        "envoy.extensions.filters.http.health_check.v3.HealthCheck": HealthCheckConfig.decode,
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit": LocalRateLimitConfig.decode,
        RateLimitConfig.messageName: RateLimitConfig.decode,
        "envoy.extensions.filters.http.fault.v3.HTTPFault": FaultConfig.decode,
        "ferry.filters.http.circuit_breaker.v1.CircuitBreaker": CircuitBreakerFilterConfig.decode,
        "ferry.filters.http.fallback.v1.Fallback": FallbackConfig.decode,
        "ferry.filters.http.bulkhead.v1.Bulkhead": BulkheadConfig.decode,
        "ferry.filters.http.idempotency.v1.Idempotency": IdempotencyConfig.decode,
        AdaptiveConcurrencyConfig.messageName: AdaptiveConcurrencyConfig.decode,
        GRPCStatsConfig.messageName: GRPCStatsConfig.decode,
        GRPCJSONTranscoderConfig.messageName: GRPCJSONTranscoderConfig.decode,
        "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb": { r in
            r.finish()
            return .grpcWeb
        },
    ]

    public var name: String
    public var kind: Kind
    public var location: SourceLocation
    /// `disabled: true`: off unless a route's typed_per_filter_config turns it on.
    public var disabled = false

    public init(name: String, kind: Kind, location: SourceLocation, disabled: Bool = false) {
        self.name = name
        self.kind = kind
        self.location = location
        self.disabled = disabled
    }

    /// `envoy.extensions.filters.http.router.v3.Router`.
    public struct RouterConfig: Sendable {
        /// Do not add x-envoy-* headers (upstream service time, expected timeout, attempt count).
        public var suppressEnvoyHeaders = false
        public init() {}
    }

    static let routerType = "envoy.extensions.filters.http.router.v3.Router"

    /// Envoy's HTTP filter names; a filter named here that Ferry lacks is "not supported yet".
    static let envoyFilters: Set<String> = [
        "adaptive_concurrency", "admission_control", "alternate_protocols_cache", "api_key_auth", "aws_lambda",
        "aws_request_signing", "bandwidth_limit", "basic_auth", "buffer", "cache", "cache_v2", "cdn_loop", "composite",
        "compressor", "connect_grpc_bridge", "cors", "credential_injector", "csrf", "custom_response", "decompressor",
        "dynamic_forward_proxy", "ext_authz", "ext_proc", "fault", "file_system_buffer", "gcp_authn", "geoip",
        "grpc_field_extraction", "grpc_http1_bridge", "grpc_http1_reverse_bridge", "grpc_json_reverse_transcoder",
        "grpc_json_transcoder", "grpc_stats", "grpc_web", "gzip", "header_mutation", "header_to_metadata",
        "health_check", "ip_tagging", "json_to_metadata", "jwt_authn", "kill_request", "local_ratelimit", "lua",
        "match_delegate", "oauth2", "on_demand", "original_src", "proto_message_extraction", "rate_limit_quota",
        "ratelimit", "rbac", "set_filter_state", "set_metadata", "stateful_session", "tap", "thrift_to_metadata",
        "upstream_codec", "wasm", "mcp", "transform", "golang", "dynamic_modules", "sxg", "language", "squash",
        "checksum", "ext_authz_http_service",
    ]

    static func decodeChain(_ readers: [ObjectReader], at location: SourceLocation, path: String,
                            diagnostics: DiagnosticCollector) -> [HttpFilter] {
        var chain: [HttpFilter] = []
        let errorsBefore = diagnostics.errors.count
        for (index, r) in readers.enumerated() {
            defer { r.finish() }
            guard let name = r.requiredString("name", fix: "name the filter, e.g. `name: envoy.filters.http.router`") else {
                r.skipRemaining()
                continue
            }
            let optional = r.bool("is_optional") ?? false
            let disabled = r.bool("disabled") ?? false
            let typed = r.any("typed_config")
            let typeName = typed.map { $0.typeURL.split(separator: "/").last.map(String.init) ?? $0.typeURL }
            if typeName == routerType || (typed == nil && ["envoy.filters.http.router", "envoy.router"].contains(name)) {
                var config = RouterConfig()
                if let reader = typed?.reader {
                    defer { reader.finish() }
                    config.suppressEnvoyHeaders = reader.bool("suppress_envoy_headers") ?? false
                }
                if index != readers.count - 1 {
                    r.diagnostics.error(r.location(of: "name"), r.join("name"),
                                        "the router must be the last HTTP filter (it is the terminal filter)",
                                        fix: "move \(name) to the end of http_filters")
                }
                chain.append(HttpFilter(name: name, kind: .router(config), location: r.node.location))
                continue
            }
            if let typeName, let decoder = decoders[typeName], let reader = typed?.reader {
                if index == readers.count - 1 {
                    r.diagnostics.error(r.location(of: "name"), r.join("name"),
                                        "\(name) cannot be the last HTTP filter; the router must come last",
                                        fix: "add `- name: envoy.filters.http.router` after it")
                }
                if let kind = decoder(reader) {
                    chain.append(HttpFilter(name: name, kind: kind, location: r.node.location, disabled: disabled))
                }
                continue
            }
            typed?.reader.accept(contentsOf: typed?.reader.keys ?? [])
            let short = (typeName.flatMap { filterShortName(fromType: $0) }) ?? filterShortName(fromName: name)
            if optional {
                r.diagnostics.warning(r.location(of: "name"), r.join("name"),
                                      "optional filter \(name) is not available in Ferry and is skipped (is_optional: true)")
                continue
            }
            if let short, envoyFilters.contains(short) {
                r.diagnostics.error(r.location(of: "name"), r.join("name"), "HTTP filter \(name) is not supported yet by Ferry",
                                    fix: "remove it, or mark it `is_optional: true` to run without it; see docs/compatibility.md")
            } else {
                let suggestion = Suggestion.closest(to: name, in: ["envoy.filters.http.router"] + envoyFilters.map { "envoy.filters.http.\($0)" })
                r.diagnostics.error(r.location(of: "name"), r.join("name"),
                                    "unknown HTTP filter \"\(name)\"" + (suggestion.map { " (did you mean \($0)?)" } ?? ""),
                                    fix: "use a filter name from Envoy's list, e.g. envoy.filters.http.router")
            }
        }
        if readers.isEmpty {
            // Envoy adds the router when http_filters is empty.
            chain.append(HttpFilter(name: "envoy.filters.http.router", kind: .router(RouterConfig()), location: location))
        } else if !chain.contains(where: { if case .router = $0.kind { true } else { false } }) && diagnostics.errors.count == errorsBefore {
            diagnostics.error(location, path, "http_filters has no router, so no request would reach an upstream",
                              fix: "add `- name: envoy.filters.http.router` as the last filter")
        }
        return chain
    }

    /// `envoy.extensions.filters.http.cors.v3.Cors` → `cors`.
    static func filterShortName(fromType type: String) -> String? {
        let parts = type.split(separator: ".")
        guard parts.count >= 5, parts[0] == "envoy", parts[1] == "extensions", parts[2] == "filters", parts[3] == "http" else { return nil }
        return String(parts[4])
    }

    /// `envoy.filters.http.cors` → `cors`.
    static func filterShortName(fromName name: String) -> String? {
        guard name.hasPrefix("envoy.filters.http.") else { return nil }
        return String(name.dropFirst("envoy.filters.http.".count))
    }
}
