@testable import FerryConfig
import Testing

/// gRPC settings: the route's and the connection manager's `max_stream_duration`, and the
/// `grpc_stats` and `grpc_web` filters (Envoy 1.40's fields and defaults; what Ferry lacks is
/// refused as not supported yet).
@Suite("gRPC config")
struct GRPCConfigTests {
    static let statsType = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"
    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"

    static func statsYAML(_ fields: String) -> String {
        Fixture.bootstrap(httpFilters: """
            - name: envoy.filters.http.grpc_stats
              typed_config:
                "@type": \(statsType)
                \(fields)
            """ + "\n" + Fixture.router)
    }

    static func statsConfig(_ fields: String) -> GRPCStatsConfig? {
        guard case .grpcStats(let c)? = Fixture.load(statsYAML(fields))?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind
        else { return nil }
        return c
    }

    @Test("route max_stream_duration decodes its three durations; unset fields stay nil")
    func routeMaxStreamDuration() throws {
        let yaml = Fixture.bootstrap(routes: """
            - match: {prefix: "/"}
              route:
                cluster: backend
                max_stream_duration: {max_stream_duration: 2s, grpc_timeout_header_max: 0s, grpc_timeout_header_offset: 0.1s}
            - match: {prefix: "/b"}
              route: {cluster: backend, max_stream_duration: {max_stream_duration: 0s}}
            """)
        let routes = try #require(Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first?.routes)
        guard case .route(let first) = routes[0].action, case .route(let second) = routes[1].action else {
            Issue.record("expected route actions")
            return
        }
        #expect(first.maxStreamDuration == .init(maxStreamDuration: .seconds(2), grpcTimeoutHeaderMax: .zero,
                                                 grpcTimeoutHeaderOffset: .milliseconds(100)))
        #expect(second.maxStreamDuration == .init(maxStreamDuration: .zero))
    }

    @Test("a misspelt max_stream_duration field is located with a suggestion")
    func misspeltField() {
        let yaml = Fixture.bootstrap(routes: """
            - match: {prefix: "/"}
              route: {cluster: backend, max_stream_duration: {grpc_timeout_header_mx: 1s}}
            """)
        Fixture.expectOneError(yaml, at: "grpc_timeout_header_mx", path: "\(Fixture.route(0)).route.max_stream_duration.grpc_timeout_header_mx",
                               message: "did you mean \"grpc_timeout_header_max\"")
    }

    @Test("common_http_protocol_options.max_stream_duration caps streams; zero means none")
    func hcmMaxStreamDuration() {
        let set = Fixture.load(Fixture.bootstrap(hcm: "common_http_protocol_options: {max_stream_duration: 1.5s}"))
        #expect(set?.listeners.first?.httpConnectionManager?.maxStreamDuration == .milliseconds(1500))
        let zero = Fixture.load(Fixture.bootstrap(hcm: "common_http_protocol_options: {max_stream_duration: 0s}"))
        #expect(zero != nil && zero?.listeners.first?.httpConnectionManager?.maxStreamDuration == nil)
    }

    @Test("a cluster's common_http_protocol_options.max_stream_duration decodes, directly or in typed_extension_protocol_options")
    func clusterMaxStreamDuration() {
        let direct = Fixture.load(Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  common_http_protocol_options: {max_stream_duration: 2s}"))
        #expect(direct?.clusters.first?.maxStreamDuration == .seconds(2))
        let typed = Fixture.load(Fixture.bootstrap(clusters: Fixture.backendCluster + """

              typed_extension_protocol_options:
                envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                  "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                  common_http_protocol_options: {max_stream_duration: 0.5s}
                  explicit_http_config: {http_protocol_options: {}}
            """))
        #expect(typed?.clusters.first?.maxStreamDuration == .milliseconds(500))
        #expect(Fixture.load(Fixture.bootstrap())?.clusters.first?.maxStreamDuration == nil)
    }

    @Test("grpc_stats defaults to Envoy 1.40's: no per-method names, no upstream stats")
    func statsDefaults() throws {
        let c = try #require(Self.statsConfig("stats_for_all_methods: false"))
        #expect(c == GRPCStatsConfig())
        #expect(try #require(Self.statsConfig("enable_upstream_stats: false")) == GRPCStatsConfig())
    }

    @Test("grpc_stats decodes stats_for_all_methods, an allowlist, upstream stats and dot replacement")
    func statsFields() throws {
        let all = try #require(Self.statsConfig("stats_for_all_methods: true\n    enable_upstream_stats: true"))
        #expect(all.methods == .all && all.enableUpstreamStats)
        let list = try #require(Self.statsConfig("""
            individual_method_stats_allowlist:
                  services:
                  - {name: helloworld.Greeter, method_names: [SayHello, SayBye]}
                replace_dots_in_grpc_service_name: true
            """))
        #expect(list.methods == .allowlist(["helloworld.Greeter": ["SayHello", "SayBye"]]))
        #expect(list.replaceDotsInServiceName)
    }

    @Test("grpc_stats refuses both method specifiers at once, and emit_filter_state: true as not supported yet")
    func statsRefusals() {
        Fixture.expectOneError(Self.statsYAML("stats_for_all_methods: true\n    individual_method_stats_allowlist: {services: []}"),
                               at: "individual_method_stats_allowlist", path: "\(Self.filterPath).individual_method_stats_allowlist",
                               message: "only one of stats_for_all_methods, individual_method_stats_allowlist may be set")
        Fixture.expectOneError(Self.statsYAML("emit_filter_state: true"), at: "emit_filter_state",
                               path: "\(Self.filterPath).emit_filter_state",
                               message: "FilterConfig.emit_filter_state is not supported yet by Ferry")
        #expect(Self.statsConfig("emit_filter_state: false") == GRPCStatsConfig())
    }

    @Test("grpc_web takes its (empty) config; an unknown field in it is an error")
    func grpcWeb() {
        let yaml = Fixture.bootstrap(httpFilters: """
            - name: envoy.filters.http.grpc_web
              typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb}
            """ + "\n" + Fixture.router)
        guard case .grpcWeb? = Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind else {
            Issue.record("expected the grpc_web filter")
            return
        }
        let bad = Fixture.bootstrap(httpFilters: """
            - name: envoy.filters.http.grpc_web
              typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.grpc_web.v3.GrpcWeb, text: true}
            """ + "\n" + Fixture.router)
        Fixture.expectOneError(bad, at: "text", path: "\(Self.filterPath).text", message: "unknown field \"text\" in GrpcWeb")
    }
}
