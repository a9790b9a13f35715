@testable import FerryConfig
import Testing

/// Wrong types, out-of-range numbers, durations, enums and oneof conflicts.
@Suite("Value errors")
struct ValueErrorTests {
    static let endpoint = "static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint"

    @Test("a string where a mapping is expected names both")
    func stringForMapping() {
        let yaml = """
            admin: "127.0.0.1:9901"
            """
        Fixture.expectOneError(
            yaml, at: "\"127.0.0.1:9901\"", path: "admin",
            message: "expected a mapping (Admin), found the value \"127.0.0.1:9901\"")
    }

    @Test("a list where a single value is expected")
    func listForScalar() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  connect_timeout: [5s]")
        Fixture.expectOneError(
            yaml, at: "[5s]", path: "static_resources.clusters[0].connect_timeout",
            message: "expected a duration, found a list")
    }

    @Test("a single value where a list is expected")
    func scalarForList() {
        let yaml = Fixture.bootstrap(httpFilters: "  envoy.filters.http.router")
        Fixture.expectOneError(
            yaml, at: "envoy.filters.http.router", path: "\(Fixture.hcm).http_filters",
            message: "expected a list, found the value \"envoy.filters.http.router\"")
    }

    @Test("a non-numeric port")
    func nonNumericPort() {
        let yaml = Fixture.bootstrap(
            clusters: """
                - name: backend
                  load_assignment:
                    cluster_name: backend
                    endpoints:
                    - lb_endpoints:
                      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: http}}}
                """)
        Fixture.expectOneError(
            yaml, at: "http}", path: "\(Self.endpoint).address.socket_address.port_value",
            message: "expected an integer, found \"http\"")
    }

    @Test("a port out of range is one error, not followed by a missing-port error")
    func portOutOfRange() {
        let yaml = Fixture.bootstrap(
            clusters: """
                - name: backend
                  load_assignment:
                    cluster_name: backend
                    endpoints:
                    - lb_endpoints:
                      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 70000}}}
                """)
        Fixture.expectOneError(
            yaml, at: "70000", path: "\(Self.endpoint).address.socket_address.port_value",
            message: "70000 is out of range 0...65535")
    }

    @Test("an upstream endpoint without a port")
    func endpointWithoutPort() {
        let yaml = Fixture.bootstrap(
            clusters: """
                - name: backend
                  load_assignment:
                    cluster_name: backend
                    endpoints:
                    - lb_endpoints:
                      - endpoint: {address: {socket_address: {address: 127.0.0.1}}}
                """)
        Fixture.expectOneError(
            yaml, at: "{address: 127.0.0.1}", path: "\(Self.endpoint).address.socket_address.port_value",
            message: "an upstream endpoint needs a port")
    }

    @Test("a duration without its unit suggests the same number with an s")
    func durationWithoutUnit() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend, timeout: 5}
                """)
        let error = Fixture.expectOneError(
            yaml, at: "5}", after: "timeout:", path: "\(Fixture.route(0)).route.timeout",
            message: "\"5\" is not a duration")
        #expect(error?.fix?.contains("\"5s\"") == true)
    }

    @Test("durations in string and {seconds, nanos} form are accepted")
    func durationForms() throws {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend, timeout: "1.5s", idle_timeout: 0.000001s}
                """, clusters: Fixture.backendCluster + "\n  connect_timeout: {seconds: 2, nanos: 500000000}")
        let bootstrap = try #require(Fixture.load(yaml))
        guard case .route(let action)? = Fixture.firstRoute(bootstrap)?.action else {
            Issue.record("expected a route action")
            return
        }
        #expect(action.timeout == .milliseconds(1500))
        #expect(action.idleTimeout == .microseconds(1))
        #expect(bootstrap.clusters.first?.connectTimeout == .milliseconds(2500))
    }

    @Test(
        "malformed duration strings are rejected",
        arguments: ["1.5", "s", "-1s", "1.s", "1.5ms", "1m", "+1s", "0.1234567891s"])
    func malformedDurations(text: String) {
        #expect(ObjectReader.parseDuration(text) == nil)
    }

    @Test(
        "well-formed duration strings parse exactly",
        arguments: [
            ("0s", Duration.zero), ("15s", .seconds(15)), (".5s", .milliseconds(500)),
            ("0.000000001s", .nanoseconds(1)),
            ("3600s", .seconds(3600)),
        ])
    func wellFormedDurations(text: String, expected: Duration) {
        #expect(ObjectReader.parseDuration(text) == expected)
    }

    @Test("connect_timeout must be positive")
    func zeroConnectTimeout() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  connect_timeout: 0s")
        Fixture.expectOneError(
            yaml, at: "0s", after: "connect_timeout", path: "static_resources.clusters[0].connect_timeout",
            message: "must be greater than 0s")
    }

    @Test("a misspelled enum value suggests the real one")
    func badEnum() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  lb_policy: ROUND_ROBN")
        let error = Fixture.expectOneError(
            yaml, at: "ROUND_ROBN", path: "static_resources.clusters[0].lb_policy",
            message: "unknown value \"ROUND_ROBN\" (did you mean ROUND_ROBIN?)")
        #expect(error?.fix?.contains("ROUND_ROBIN, LEAST_REQUEST") == true)
    }

    @Test("enums accept their proto number")
    func enumByNumber() throws {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  type: 1")
        #expect(try #require(Fixture.load(yaml)?.clusters.first).type == .strictDNS)
    }

    @Test("a boolean written as text is rejected")
    func badBool() {
        let yaml = Fixture.bootstrap(hcm: "use_remote_address: yes please")
        Fixture.expectOneError(
            yaml, at: "yes please", path: "\(Fixture.hcm).use_remote_address",
            message: "expected true or false, found \"yes please\"")
    }

    @Test("two members of a oneof conflict at the second one")
    func oneofConflict() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/", path: "/exact"}
                  route: {cluster: backend}
                """)
        Fixture.expectOneError(
            yaml, at: "path:", path: "\(Fixture.route(0)).match.path",
            message: "only one of prefix, path, safe_regex, path_separated_prefix, connect_matcher, path_match_policy "
                + "may be set, found prefix and path")
    }
}
