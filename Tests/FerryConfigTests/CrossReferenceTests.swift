@testable import FerryConfig
import Testing

/// Checks that need the whole configuration, and collecting every error of a run.
@Suite("Cross references and collected errors")
struct CrossReferenceTests {
    static let secondListener = """
          - name: second
            address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: second
                  route_config: {}

        """

    @Test("a route naming an undefined cluster suggests the closest defined one")
    func undefinedCluster() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backnd}
                """)
        let error = Fixture.expectOneError(
            yaml, at: "backnd", path: "\(Fixture.route(0)).route.cluster",
            message: "route names cluster \"backnd\", which is not defined (did you mean \"backend\"?)")
        #expect(error?.fix == "change it to backend")
    }

    @Test("an undefined cluster with nothing close says where to define it")
    func undefinedClusterNoSuggestion() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: payments}
                """)
        let error = Fixture.expectOneError(
            yaml, at: "payments", path: "\(Fixture.route(0)).route.cluster",
            message: "route names cluster \"payments\", which is not defined")
        #expect(error?.fix?.contains("static_resources.clusters") == true)
    }

    @Test("a weighted cluster naming an undefined cluster")
    func undefinedWeightedCluster() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    weighted_clusters:
                      clusters:
                      - {name: backend, weight: 80}
                      - {name: canary, weight: 20}
                """)
        Fixture.expectOneError(
            yaml, at: "canary", path: "\(Fixture.route(0)).route.weighted_clusters.clusters[1].name",
            message: "route names cluster \"canary\", which is not defined")
    }

    @Test("weighted clusters whose weights add up to 0")
    func weightsSumToZero() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    weighted_clusters:
                      clusters: [{name: backend, weight: 0}]
                """)
        Fixture.expectOneError(
            yaml, at: "clusters: [", after: "weighted_clusters",
            path: "\(Fixture.route(0)).route.weighted_clusters.clusters",
            message: "the cluster weights add up to 0")
    }

    @Test("total_weight that differs from the sum of the weights loads with a located warning, as Envoy ignores it")
    func totalWeightMismatch() throws {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route:
                    weighted_clusters:
                      total_weight: 100
                      clusters: [{name: backend, weight: 60}]
                """)
        let loaded = try ConfigLoader.load(yaml: yaml, file: "test.yaml").get()
        #expect(loaded.warnings.count == 1)
        let warning = try #require(loaded.warnings.first)
        #expect(warning.path == "\(Fixture.route(0)).route.weighted_clusters.total_weight")
        #expect(warning.message.contains("total_weight is 100 but the cluster weights add up to 60"))
        #expect(warning.location.line == Fixture.location(of: "100", in: yaml, after: "total_weight").line)
        #expect(warning.fix?.contains("60") == true)
    }

    @Test("two clusters with the same name")
    func duplicateClusterNames() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster + "\n- name: backend\n  type: STATIC")
        let error = Fixture.expectOneError(
            yaml, at: "name: backend\n    type: STATIC", path: "static_resources.clusters[1].name",
            message: "duplicate cluster name \"backend\"")
        let first = Fixture.location(of: "- name: backend", in: yaml).line
        #expect(error?.message.contains("first defined at line \(first)") == true)
    }

    @Test("two listeners with the same name")
    func duplicateListenerNames() {
        let yaml = Fixture.bootstrap(clusters: Fixture.backendCluster).replacingOccurrences(
            of: "  clusters:\n",
            with: Self.secondListener.replacingOccurrences(of: "name: second", with: "name: web")
                .replacingOccurrences(of: "port_value: 10000", with: "port_value: 10001") + "  clusters:\n")
        Fixture.expectOneError(
            yaml, at: "name: web", occurrence: 2, path: "static_resources.listeners[1].name",
            message: "duplicate listener name \"web\" (first defined at line 3)")
    }

    @Test("two listeners on the same address and port")
    func sameAddressTwice() {
        let yaml = Fixture.bootstrap().replacingOccurrences(
            of: "  clusters:\n", with: Self.secondListener + "  clusters:\n")
        Fixture.expectOneError(
            yaml, at: "{address: 127.0.0.1, port_value: 10000}", occurrence: 2,
            path: "static_resources.listeners[1].address",
            message: "listener \"second\" uses address 127.0.0.1:10000, already used by listener \"web\" at line 3")
    }

    @Test("two listeners on port 0 do not collide")
    func portZeroNeverCollides() {
        let yaml = Fixture.bootstrap().replacingOccurrences(
            of: "  clusters:\n", with: Self.secondListener + "  clusters:\n"
        )
        .replacingOccurrences(of: "port_value: 10000", with: "port_value: 0")
        #expect(Fixture.load(yaml)?.listeners.count == 2)
    }

    @Test("the admin API on a listener's port")
    func adminOnListenerPort() {
        let yaml = Fixture.bootstrap(top: "admin: {address: {socket_address: {address: 127.0.0.1, port_value: 10000}}}")
        Fixture.expectOneError(
            yaml, at: "{address: 127.0.0.1, port_value: 10000}", path: "admin.address",
            message: "admin address 127.0.0.1:10000 is also used by listener \"web\"")
    }

    @Test("a domain used by two virtual hosts")
    func duplicateDomains() {
        let otherHost =
            "            - name: other\n              domains: [\"api.example.com\", \"*\"]\n              routes: []\n"
        let yaml = Fixture.bootstrap().replacingOccurrences(
            of: "          http_filters:\n", with: otherHost + "          http_filters:\n")
        let error = Fixture.expectOneError(
            yaml, at: "name: other", path: "\(Fixture.hcm).route_config.virtual_hosts[1].domains",
            message: "domain \"*\" is used by virtual hosts \"all\" and \"other\"")
        #expect(error?.fix == "remove \"*\" from one of them")
    }

    @Test("invalid domain wildcards are rejected at the domain", arguments: ["a*b.com", "*.example.*", " spaced.com"])
    func invalidWildcard(domain: String) {
        // Stricter than Envoy 1.40, which accepts "a*b.com" as a literal host name.
        let yaml = Fixture.bootstrap().replacingOccurrences(of: "domains: [\"*\"]", with: "domains: [\"\(domain)\"]")
        Fixture.expectOneError(
            yaml, at: "\"\(domain)\"", path: "\(Fixture.virtualHost).domains", message: "domain \"\(domain)\"")
    }

    @Test(
        "valid domain forms are accepted",
        arguments: ["*", "*.example.com", "example.*", "example.com", "Example.com:8080"])
    func validDomains(domain: String) throws {
        let yaml = Fixture.bootstrap().replacingOccurrences(of: "domains: [\"*\"]", with: "domains: [\"\(domain)\"]")
        let host = try #require(
            Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first)
        #expect(host.domains == [domain.lowercased()])
    }

    @Test("a LOGICAL_DNS cluster with two endpoints")
    func logicalDNSWithTwoEndpoints() {
        let yaml = Fixture.bootstrap(
            clusters: """
                - name: backend
                  type: LOGICAL_DNS
                  load_assignment:
                    cluster_name: backend
                    endpoints:
                    - lb_endpoints:
                      - endpoint: {address: {socket_address: {address: a.example, port_value: 80}}}
                      - endpoint: {address: {socket_address: {address: b.example, port_value: 80}}}
                """)
        Fixture.expectOneError(
            yaml, at: "cluster_name: backend", path: "static_resources.clusters[0].load_assignment",
            message: "LOGICAL_DNS clusters must have exactly one endpoint (found 2)")
    }

    @Test("three independent mistakes give three errors, sorted by line")
    func allErrorsCollected() {
        let yaml = """
            admin:
              address: {socket_address: {address: 127.0.0.1, port_valu: 9901}}
            static_resources:
              listeners:
              - name: web
                address: {socket_address: {address: 127.0.0.1, port_value: 10000}}
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: web
                      route_config:
                        virtual_hosts:
                        - name: all
                          domains: ["*"]
                          routes:
                          - match: {prefix: "/"}
                            route: {cluster: backnd}
              clusters:
              - name: backend
                lb_policy: ROUND_ROBN
                load_assignment: {cluster_name: backend}
            """
        let errors = Fixture.errors(yaml)
        #expect(errors.count == 3, "\(errors)")
        #expect(errors.map(\.location.line) == [2, 19, 22])
        #expect(
            errors.map(\.path) == [
                "admin.address.socket_address.port_valu", "\(Fixture.route(0)).route.cluster",
                "static_resources.clusters[0].lb_policy",
            ])
        #expect(errors.allSatisfy { $0.fix != nil })
        guard case .failure(let failure) = Fixture.result(yaml) else { return }
        #expect(failure.description.hasPrefix("configuration has 3 errors:\ntest.yaml:2:"))
    }
}
