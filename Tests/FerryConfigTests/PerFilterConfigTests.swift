@testable import FerryConfig
import Testing

/// `typed_per_filter_config` at route configuration, virtual host and route level, Envoy's
/// `FilterConfig` wrapper, and `disabled` filters in `http_filters`.
@Suite("Per-filter config")
struct PerFilterConfigTests {
    static let healthCheck = """
        - name: hc
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck
            pass_through_mode: false
            headers: [{name: ":path", string_match: {exact: /healthz}}]
        """ + "\n" + Fixture.router

    static let hcType = "type.googleapis.com/envoy.extensions.filters.http.health_check.v3.HealthCheck"

    @Test("entries at each level decode by type; FilterConfig carries disabled and is_optional")
    func levels() throws {
        let routes = """
            - match: {prefix: "/"}
              route: {cluster: backend}
              typed_per_filter_config:
                hc: {"@type": \(Self.hcType), pass_through_mode: true, headers: [{name: x, present_match: true}]}
            """
        let bootstrap = try #require(Fixture.load(Fixture.bootstrap(
            routes: routes,
            virtualHostFields: "typed_per_filter_config: {hc: {\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}}",
            routeConfigFields: "typed_per_filter_config: {hc: {\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: false, config: {\"@type\": \(Self.hcType), pass_through_mode: false, headers: [{name: y, present_match: true}]}}}",
            httpFilters: Self.healthCheck)))
        let config = try #require(bootstrap.listeners[0].httpConnectionManager?.routeConfig)
        let top = try #require(config.typedPerFilterConfig["hc"])
        #expect(!top.disabled)
        guard case .healthCheck(let topHC)? = top.kind else { Issue.record("route_config entry not decoded"); return }
        #expect(!topHC.passThrough)
        #expect(config.virtualHosts[0].typedPerFilterConfig["hc"]?.disabled == true)
        #expect(config.virtualHosts[0].typedPerFilterConfig["hc"]?.kind == nil)
        guard case .healthCheck(let routeHC)? = config.virtualHosts[0].routes[0].typedPerFilterConfig["hc"]?.kind else {
            Issue.record("route entry not decoded")
            return
        }
        #expect(routeHC.passThrough)
    }

    @Test("a per-route config of a type Ferry lacks is refused by name; is_optional skips it")
    func unsupportedType() {
        let cors = "{\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy, allow_origin_string_match: [{exact: x}]}"
        Fixture.expectOneError(Fixture.bootstrap(virtualHostFields: "typed_per_filter_config: {envoy.filters.http.cors: \(cors)}"),
                               at: "{\"@type\": type.googleapis.com/envoy.extensions.filters.http.cors",
                               path: "\(Fixture.virtualHost).typed_per_filter_config.envoy.filters.http.cors",
                               message: "per-route config of type envoy.extensions.filters.http.cors.v3.CorsPolicy is not supported yet")
        let optional = "{\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig, is_optional: true, config: \(cors)}"
        #expect(Fixture.errors(Fixture.bootstrap(virtualHostFields: "typed_per_filter_config: {envoy.filters.http.cors: \(optional)}")).isEmpty)
    }

    @Test("an entry naming no filter of the chain is a warning; a FilterConfig with nothing in it is an error")
    func names() {
        let disabled = "{\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig, disabled: true}"
        let warnings = Fixture.diagnostics(Fixture.bootstrap(virtualHostFields: "typed_per_filter_config: {hcc: \(disabled)}",
                                                             httpFilters: Self.healthCheck))
            .filter { $0.severity == .warning }
        #expect(warnings.count == 1)
        #expect(warnings.first?.message.contains("did you mean \"hc\"") == true)
        Fixture.expectOneError(Fixture.bootstrap(virtualHostFields: "typed_per_filter_config: {hc: {\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig}}",
                                                 httpFilters: Self.healthCheck),
                               at: "{\"@type\": type.googleapis.com/envoy.config.route.v3.FilterConfig}",
                               path: "\(Fixture.virtualHost).typed_per_filter_config.hc", message: "neither `config` nor `disabled: true`")
    }

    @Test("a filter with disabled: true in http_filters is kept, off by default")
    func disabledFilter() throws {
        let filters = Self.healthCheck.replacingOccurrences(of: "- name: hc\n", with: "- name: hc\n  disabled: true\n")
        let bootstrap = try #require(Fixture.load(Fixture.bootstrap(httpFilters: filters)))
        #expect(bootstrap.listeners[0].httpConnectionManager?.httpFilters.first?.disabled == true)
    }
}
