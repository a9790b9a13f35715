/// `envoy.extensions.filters.http.grpc_stats.v3.FilterConfig`: per-cluster counters of gRPC
/// calls (`cluster.<name>.grpc.[<service>.<method>.]success|failure|total|<grpc-status>` and
/// message counts), as Envoy 1.40 names them.
public struct GRPCStatsConfig: Sendable, Equatable {
    /// Which calls get `<service>.<method>` in their stat names.
    public enum Methods: Sendable, Equatable {
        /// `stats_for_all_methods: true`: every call that names a service and method.
        case all
        /// `individual_method_stats_allowlist` (or neither field: Envoy 1.40's default is
        /// `stats_for_all_methods: false`, an empty list). Other calls count without names.
        case allowlist([String: Set<String>])
    }

    public var methods: Methods = .allowlist([:])
    /// `enable_upstream_stats`: `upstream_rq_time` per call, from the request's last byte sent
    /// upstream to the response's last byte received.
    public var enableUpstreamStats = false
    /// `replace_dots_in_grpc_service_name`: `pkg.Svc` becomes `pkg_Svc` in stat names.
    public var replaceDotsInServiceName = false

    public init(methods: Methods = .allowlist([:]), enableUpstreamStats: Bool = false, replaceDotsInServiceName: Bool = false) {
        self.methods = methods
        self.enableUpstreamStats = enableUpstreamStats
        self.replaceDotsInServiceName = replaceDotsInServiceName
    }

    static let messageName = "envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        var config = GRPCStatsConfig()
        let specifiers = ["stats_for_all_methods", "individual_method_stats_allowlist"]
        switch r.oneOf(specifiers, required: false, what: "per-method stats specifier") {
        case "stats_for_all_methods":
            if r.bool("stats_for_all_methods") == true { config.methods = .all }
        case "individual_method_stats_allowlist":
            config.methods = .allowlist(decodeAllowlist(r))
        default:
            break
        }
        config.enableUpstreamStats = r.bool("enable_upstream_stats") ?? false
        config.replaceDotsInServiceName = r.bool("replace_dots_in_grpc_service_name") ?? false
        // emit_filter_state: false is Envoy's default behaviour; true is not supported yet.
        if r.has("emit_filter_state"), r.bool("emit_filter_state") == true {
            r.diagnostics.error(r.location(of: "emit_filter_state"), r.join("emit_filter_state"),
                                "FilterConfig.emit_filter_state is not supported yet by Ferry",
                                fix: "remove it (or set it to false); see docs/compatibility.md")
        }
        return .grpcStats(config)
    }

    private static func decodeAllowlist(_ r: ObjectReader) -> [String: Set<String>] {
        guard let list = r.object("individual_method_stats_allowlist", "envoy.config.core.v3.GrpcMethodList") else { return [:] }
        defer { list.finish() }
        var methods: [String: Set<String>] = [:]
        for service in list.objects("services", "envoy.config.core.v3.GrpcMethodList.Service") {
            defer { service.finish() }
            let fix = "name the service, e.g. `name: helloworld.Greeter`"
            guard let name = service.requiredString("name", fix: fix) else { continue }
            methods[name, default: []].formUnion(service.strings("method_names").map(\.value))
        }
        return methods
    }
}
