@testable import FerryConfig
import Testing

/// `envoy.extensions.filters.http.fault.v3.HTTPFault`: every field, Envoy's defaults, the
/// per-route form, and located errors for what Envoy's validation refuses.
@Suite("Fault filter config")
struct FaultConfigTests {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
    static let path = "\(Fixture.hcm).http_filters[0].typed_config"

    /// A bootstrap whose chain is the fault filter with `fields` (YAML lines), then the router.
    static func yaml(_ fields: String) -> String {
        let indented = fields.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        return Fixture.bootstrap(httpFilters: """
            - name: envoy.filters.http.fault
              typed_config:
                "@type": \(type)
            \(indented)
            """ + "\n" + Fixture.router)
    }

    static func fault(_ fields: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> HttpFilter.FaultConfig? {
        let filter = Fixture.load(yaml(fields), sourceLocation: sourceLocation)?.listeners.first?.httpConnectionManager?.httpFilters.first
        guard case .fault(let config)? = filter?.kind else { return nil }
        return config
    }

    @Test("every field is read")
    func everyField() throws {
        let config = try #require(Self.fault("""
            delay: {fixed_delay: 1.5s, percentage: {numerator: 25, denominator: TEN_THOUSAND}}
            abort: {http_status: 503, percentage: {numerator: 50}}
            upstream_cluster: backend
            headers: [{name: x-fault, exact_match: "yes"}]
            downstream_nodes: [node-a, node-b]
            max_active_faults: 7
            response_rate_limit: {fixed_limit: {limit_kbps: 64}, percentage: {numerator: 100}}
            delay_percent_runtime: my.delay_percent
            abort_percent_runtime: my.abort_percent
            delay_duration_runtime: my.delay_ms
            abort_http_status_runtime: my.http_status
            abort_grpc_status_runtime: my.grpc_status
            max_active_faults_runtime: my.max_active
            response_rate_limit_percent_runtime: my.rl_percent
            disable_downstream_cluster_stats: true
            """))
        #expect(config.delay == .init(source: .fixed(milliseconds: 1500), percentage: .init(numerator: 25, denominator: .tenThousand)))
        #expect(config.abort == .init(source: .http(503), percentage: .init(numerator: 50)))
        #expect(config.upstreamCluster == "backend")
        #expect(config.headers.map(\.name) == ["x-fault"])
        #expect(config.downstreamNodes == ["node-a", "node-b"])
        #expect(config.maxActiveFaults == 7)
        #expect(config.responseRateLimit == .init(source: .fixed(kibPerSecond: 64), percentage: .all))
        var keys = HttpFilter.FaultConfig.RuntimeKeys()
        keys.delayPercent = "my.delay_percent"
        keys.abortPercent = "my.abort_percent"
        keys.delayDuration = "my.delay_ms"
        keys.abortHTTPStatus = "my.http_status"
        keys.abortGRPCStatus = "my.grpc_status"
        keys.maxActiveFaults = "my.max_active"
        keys.responseRateLimitPercent = "my.rl_percent"
        #expect(config.runtimeKeys == keys)
        #expect(config.disableDownstreamClusterStats)
    }

    @Test("defaults are Envoy's: no percentage is 0 %, no limit, the fault.http.* runtime keys")
    func defaults() throws {
        let config = try #require(Self.fault("abort: {http_status: 418}\ndelay: {fixed_delay: 0.0015s}"))
        #expect(config.abort?.percentage == FractionalPercent(numerator: 0, denominator: .hundred))
        // Envoy keeps whole milliseconds of fixed_delay.
        #expect(config.delay?.source == .fixed(milliseconds: 1))
        #expect(config.upstreamCluster == nil && config.headers.isEmpty && config.downstreamNodes.isEmpty)
        #expect(config.maxActiveFaults == nil && config.responseRateLimit == nil && !config.disableDownstreamClusterStats)
        let keys = config.runtimeKeys
        #expect(keys.delayPercent == "fault.http.delay.fixed_delay_percent" && keys.abortPercent == "fault.http.abort.abort_percent")
        #expect(keys.delayDuration == "fault.http.delay.fixed_duration_ms" && keys.abortHTTPStatus == "fault.http.abort.http_status")
        #expect(keys.abortGRPCStatus == "fault.http.abort.grpc_status" && keys.maxActiveFaults == "fault.http.max_active_faults")
        #expect(keys.responseRateLimitPercent == "fault.http.rate_limit.response_percent")
        let empty = try #require(Self.fault("upstream_cluster: \"\"\ndelay_percent_runtime: \"\""))
        #expect(empty.delay == nil && empty.abort == nil && empty.upstreamCluster == nil)
        #expect(empty.runtimeKeys == HttpFilter.FaultConfig.RuntimeKeys())
    }

    @Test("header-controlled faults and gRPC aborts are read")
    func headerControlled() throws {
        let config = try #require(Self.fault("""
            delay: {header_delay: {}, percentage: {numerator: 100}}
            abort: {header_abort: {}, percentage: {numerator: 100}}
            response_rate_limit: {header_limit: {}}
            """))
        #expect(config.delay?.source == .header && config.abort?.source == .header)
        #expect(config.responseRateLimit == .init(source: .header, percentage: .none))
        let grpc = try #require(Self.fault("abort: {grpc_status: 14, percentage: {numerator: 100}}"))
        #expect(grpc.abort?.source == .grpc(14))
    }

    @Test("a route's typed_per_filter_config HTTPFault is decoded as the filter's own config")
    func perRoute() throws {
        let routes = """
            - match: {prefix: "/"}
              route: {cluster: backend}
              typed_per_filter_config:
                envoy.filters.http.fault: {"@type": \(Self.type), abort: {http_status: 429, percentage: {numerator: 100}}}
            """
        let bootstrap = try #require(Fixture.load(Fixture.bootstrap(routes: routes, httpFilters: """
            - name: envoy.filters.http.fault
              typed_config: {"@type": \(Self.type)}
            """ + "\n" + Fixture.router)))
        let entry = Fixture.firstRoute(bootstrap)?.typedPerFilterConfig["envoy.filters.http.fault"]
        guard case .fault(let config)? = entry?.kind else { Issue.record("per-route HTTPFault not decoded"); return }
        #expect(config.abort == .init(source: .http(429), percentage: .all))
    }

    @Test("out-of-range values are refused where they are written, with a fix", arguments: [
        ("abort: {http_status: 600}", "600", "abort.http_status", "out of range 200...599"),
        ("abort: {http_status: 199}", "199", "abort.http_status", "out of range 200...599"),
        ("delay: {fixed_delay: 0s}", "0s", "delay.fixed_delay", "must be greater than 0s"),
        ("response_rate_limit: {fixed_limit: {limit_kbps: 0}}", "0}}", "response_rate_limit.fixed_limit.limit_kbps", "out of range 1..."),
        ("max_active_faults: -1", "-1", "max_active_faults", "out of range 0..."),
    ])
    func outOfRange(_ fields: String, _ needle: String, _ field: String, _ message: String) {
        Fixture.expectOneError(Self.yaml(fields), at: needle, after: "HTTPFault", path: "\(Self.path).\(field)", message: message)
    }

    @Test("each fault needs exactly one kind")
    func kinds() {
        Fixture.expectOneError(Self.yaml("abort: {percentage: {numerator: 5}}"), at: "{percentage", after: "abort:",
                               path: "\(Self.path).abort", message: "abort status is missing")
        Fixture.expectOneError(Self.yaml("delay: {percentage: {numerator: 5}}"), at: "{percentage", after: "delay:",
                               path: "\(Self.path).delay", message: "delay kind is missing")
        Fixture.expectOneError(Self.yaml("response_rate_limit: {percentage: {numerator: 5}}"), at: "{percentage",
                               after: "response_rate_limit:", path: "\(Self.path).response_rate_limit", message: "rate limit kind is missing")
        Fixture.expectOneError(Self.yaml("abort: {http_status: 503, grpc_status: 14}"), at: "grpc_status",
                               path: "\(Self.path).abort.grpc_status", message: "only one of http_status, grpc_status, header_abort")
        Fixture.expectOneError(Self.yaml("response_rate_limit: {fixed_limit: {}}"), at: "{}", after: "fixed_limit",
                               path: "\(Self.path).response_rate_limit.fixed_limit.limit_kbps", message: "required field is missing")
    }

    @Test("filter_metadata is refused by name; a misspelt field gets a suggestion")
    func unsupportedAndUnknown() {
        Fixture.expectOneError(Self.yaml("abort: {http_status: 503}\nfilter_metadata: {a: b}"), at: "filter_metadata",
                               path: "\(Self.path).filter_metadata", message: "HTTPFault.filter_metadata is not supported yet")
        let error = Fixture.expectOneError(Self.yaml("dealy: {fixed_delay: 1s}"), at: "dealy", path: "\(Self.path).dealy",
                                           message: "unknown field \"dealy\"")
        #expect(error?.message.contains("did you mean \"delay\"") == true)
        Fixture.expectOneError(Self.yaml("delay: {fixed_delay: 1s, type: FIXED}"), at: "type", after: "delay:",
                               path: "\(Self.path).delay.type", message: "unknown field \"type\"")
    }
}
