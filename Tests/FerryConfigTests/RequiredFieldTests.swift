@testable import FerryConfig
import Testing

/// Missing required fields: one error at the message, never followed by its other fields reported as
/// "not supported yet".
@Suite("Required fields")
struct RequiredFieldTests {
    @Test("a missing stat_prefix is reported at the connection manager")
    func missingStatPrefix() {
        let yaml = """
            static_resources:
              listeners:
              - address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      route_config: {}
            """
        let error = Fixture.expectOneError(
            yaml, at: "\"@type\"", path: "\(Fixture.hcm).stat_prefix",
            message: "required field is missing")
        #expect(error?.fix?.contains("stat_prefix: ingress_http") == true)
    }

    @Test("an empty stat_prefix is reported at its value")
    func emptyStatPrefix() {
        let yaml = Fixture.bootstrap().replacingOccurrences(of: "stat_prefix: web", with: "stat_prefix: \"\"")
        Fixture.expectOneError(
            yaml, at: "\"\"", after: "stat_prefix", path: "\(Fixture.hcm).stat_prefix", message: "must not be empty")
    }

    @Test("a cluster without a name")
    func missingClusterName() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n- type: STATIC")
        Fixture.expectOneError(
            yaml, at: "type: STATIC", path: "static_resources.clusters[1].name", message: "required field is missing")
    }

    @Test("a route without a match")
    func missingRouteMatch() {
        let yaml = Fixture.bootstrap(routes: "- route: {cluster: backend}")
        Fixture.expectOneError(
            yaml, at: "route: {cluster: backend}", path: "\(Fixture.route(0)).match", message: "a route needs a match")
    }

    @Test("a route without an action")
    func missingRouteAction() {
        let yaml = Fixture.bootstrap(routes: "- match: {prefix: \"/\"}")
        Fixture.expectOneError(
            yaml, at: "match:", path: Fixture.route(0),
            message: "route action is missing: set one of route, redirect, direct_response")
    }

    @Test("a listener without an address")
    func listenerWithoutAddress() {
        let yaml = """
            static_resources:
              listeners:
              - name: web
                filter_chains: []
            """
        Fixture.expectOneError(
            yaml, at: "name: web", path: "static_resources.listeners[0].address", message: "a listener needs an address"
        )
    }

    static let requiredMissing: [(hcm: String, needle: String, path: String, message: String)] = [
        (
            "upgrade_configs: [{enabled: true}]", "{enabled", "upgrade_configs[0].upgrade_type",
            "required field is missing"
        ),
        (
            "upgrade_configs: [{upgrade_type: CONNECT, enabled: true}]", "CONNECT", "upgrade_configs[0].upgrade_type",
            "CONNECT upgrades are not supported yet"
        ),
        (
            "access_log: [{typed_config: {\"@type\": type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                + "FileAccessLog, format: x}}]",
            "{\"@type\": type.googleapis.com/envoy.extensions.access_loggers.file", "access_log[0].typed_config.path",
            "required field is missing"
        ),
        (
            "access_log: [{filter: {header_filter: {header: {exact_match: x}}}, typed_config: {\"@type\": "
                + "type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog}}]",
            "{exact_match", "access_log[0].filter.header_filter.header.name", "required field is missing"
        ),
    ]

    @Test(
        "a message missing a required field yields that one error, not its other fields as unsupported",
        arguments: requiredMissing)
    func requiredMissingIsTheOnlyError(hcm: String, needle: String, path: String, message: String) {
        let yaml = Fixture.bootstrap(hcm: hcm)
        Fixture.expectOneError(yaml, at: needle, path: "\(Fixture.hcm).\(path)", message: message)
    }

    @Test("an HTTP filter without a name is one error")
    func httpFilterWithoutName() {
        let yaml = Fixture.bootstrap(
            httpFilters:
                "- typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}")
        Fixture.expectOneError(
            yaml, at: "typed_config:", after: "http_filters", path: "\(Fixture.hcm).http_filters[0].name",
            message: "required field is missing")
    }

    @Test("a query parameter matcher and a hash cookie without names give one error each")
    func queryParameterAndCookieWithoutName() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/", query_parameters: [{present_match: true}]}
                  route: {cluster: backend, hash_policy: [{cookie: {ttl: 1s}}]}
                """)
        let errors = Fixture.errors(yaml)
        #expect(
            errors.map(\.path) == [
                "\(Fixture.route(0)).match.query_parameters[0].name",
                "\(Fixture.route(0)).route.hash_policy[0].cookie.name",
            ])
        #expect(
            errors.map(\.location) == [
                Fixture.location(of: "{present_match", in: yaml), Fixture.location(of: "{ttl", in: yaml),
            ])
        #expect(errors.allSatisfy { $0.message == "required field is missing" && $0.fix != nil })
    }

    @Test("giving up on a message still reports its typos, but not its other fields as unsupported")
    func typoSurvivesMissingRequired() {
        let yaml = """
            static_resources:
              listeners:
              - name: web
                adress: {socket_address: {address: 127.0.0.1, port_value: 10000}}
                per_connection_buffer_limit_bytes: 1024
                listener_filters: []
            """
        let errors = Fixture.errors(yaml)
        #expect(errors.count == 2, "\(errors)")
        Fixture.expectError(
            yaml, at: "name: web", path: "static_resources.listeners[0].address", message: "a listener needs an address"
        )
        let typo = Fixture.expectError(
            yaml, at: "adress", path: "static_resources.listeners[0].adress", message: "unknown field \"adress\"")
        #expect(typo?.message.contains("did you mean \"address\"") == true)
    }
}
