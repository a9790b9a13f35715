@testable import FerryConfig
import Testing

/// Defaults written on the model's fields, and `layered_runtime`.
@Suite("Model defaults and runtime")
struct ModelDefaultsTests {
    @Test("a route without timeout leaves it nil (the 15 s default is applied by the router)")
    func routeTimeoutAbsent() throws {
        guard case .route(let action)? = Fixture.firstRoute(Fixture.load(Fixture.bootstrap()))?.action else {
            Issue.record("expected a route action")
            return
        }
        #expect(action.timeout == nil)
        #expect(action.idleTimeout == nil)
        #expect(action.prefixRewrite == nil && action.regexRewrite == nil && action.hostRewrite == nil)
        #expect(action.clusterNotFoundCode == .serviceUnavailable)
        #expect(action.hashPolicy.isEmpty && action.upgradeConfigs.isEmpty)
    }

    @Test("a zero route timeout is kept as zero (disabled), not as absent")
    func routeTimeoutZero() {
        let yaml = Fixture.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend, timeout: 0s}")
        guard case .route(let action)? = Fixture.firstRoute(Fixture.load(yaml))?.action else {
            Issue.record("expected a route action")
            return
        }
        #expect(action.timeout == .zero)
    }

    @Test("cluster defaults: STATIC, 5 s connect timeout, ROUND_ROBIN, 1 MiB buffers, 1 h idle")
    func clusterDefaults() throws {
        let cluster = try #require(Fixture.load(Fixture.bootstrap())?.clusters.only)
        #expect(cluster.type == .staticType)
        #expect(cluster.connectTimeout == .seconds(5))
        #expect(cluster.lbPolicy == .roundRobin)
        #expect(cluster.perConnectionBufferLimitBytes == 1_048_576)
        #expect(cluster.maxRequestsPerConnection == nil)
        #expect(cluster.idleTimeout == .seconds(3600))
        #expect(cluster.dnsRefreshRate == .seconds(5))
        #expect(cluster.dnsLookupFamily == .auto)
        #expect(cluster.loadAssignment.overprovisioningFactor == 140)
        let endpoint = try #require(cluster.loadAssignment.localities.only?.endpoints.only)
        #expect(endpoint.weight == 1)
        #expect(cluster.loadAssignment.localities.first?.priority == 0)
    }

    @Test("HTTP connection manager defaults follow Envoy")
    func hcmDefaults() throws {
        let hcm = try #require(Fixture.load(Fixture.bootstrap())?.listeners.only?.httpConnectionManager)
        #expect(hcm.statPrefix == "web")
        #expect(hcm.codecType == .auto)
        #expect(hcm.streamIdleTimeout == .seconds(300))
        #expect(hcm.idleTimeout == .seconds(3600))
        #expect(hcm.maxHeadersCount == 100)
        #expect(hcm.maxRequestHeadersKb == 60)
        #expect(hcm.acceptHTTP10 == false)
        #expect(hcm.generateRequestID == true)
        #expect(hcm.requestTimeout == .zero)
        #expect(hcm.requestHeadersTimeout == .zero)
        #expect(hcm.drainTimeout == .seconds(5))
        #expect(hcm.useRemoteAddress == false && hcm.xffNumTrustedHops == 0)
        #expect(hcm.serverHeaderTransformation == .overwrite)
        #expect(hcm.headersWithUnderscoresAction == .allow)
        #expect(hcm.allowAbsoluteURL == true)
        #expect(hcm.localReplyConfig == nil)
    }

    @Test("HTTP connection manager settings override the defaults")
    func hcmOverrides() throws {
        let yaml = Fixture.bootstrap(
            hcm: """
                stream_idle_timeout: 10s
                max_request_headers_kb: 96
                generate_request_id: false
                common_http_protocol_options:
                  idle_timeout: 60s
                  max_headers_count: 50
                  headers_with_underscores_action: REJECT_REQUEST
                http_protocol_options: {accept_http_10: true, default_host_for_http_10: example.com}
                use_remote_address: true
                xff_num_trusted_hops: 2
                server_name: edge
                """)
        let hcm = try #require(Fixture.load(yaml)?.listeners.only?.httpConnectionManager)
        #expect(hcm.streamIdleTimeout == .seconds(10))
        #expect(hcm.maxRequestHeadersKb == 96)
        #expect(hcm.generateRequestID == false)
        #expect(hcm.idleTimeout == .seconds(60))
        #expect(hcm.maxHeadersCount == 50)
        #expect(hcm.headersWithUnderscoresAction == .rejectRequest)
        #expect(hcm.acceptHTTP10 && hcm.defaultHostForHTTP10 == "example.com")
        #expect(hcm.useRemoteAddress && hcm.xffNumTrustedHops == 2)
        #expect(hcm.serverName == "edge")
    }

    @Test("max_request_headers_kb above Envoy's 8192 limit is rejected")
    func headersKbRange() {
        let yaml = Fixture.bootstrap(hcm: "max_request_headers_kb: 9000")
        Fixture.expectOneError(
            yaml, at: "9000", path: "\(Fixture.hcm).max_request_headers_kb", message: "9000 is out of range 1...8192")
    }

    @Test("listener defaults and a listener without a name")
    func listenerDefaults() throws {
        let yaml = Fixture.bootstrap().replacingOccurrences(of: "  - name: web\n    address", with: "  - address")
        let listener = try #require(Fixture.load(yaml)?.listeners.only)
        #expect(listener.name == "listener_0")
        #expect(listener.address == SocketAddress(address: "127.0.0.1", port: 10000))
        #expect(listener.statName == "127.0.0.1_10000")
        #expect(listener.perConnectionBufferLimitBytes == 1_048_576)
        #expect(listener.enableReusePort)
    }

    @Test("layered_runtime static layers flatten to dotted keys, later layers winning")
    func layeredRuntime() throws {
        let yaml = """
            layered_runtime:
              layers:
              - name: base
                static_layer:
                  health_check: {min_interval: 5}
                  upstream.healthy_panic_threshold: 50
                  overload: {global_downstream_max_connections: 1000}
              - name: override
                static_layer:
                  health_check: {min_interval: 10}
                  feature: {enabled: true, ratio: {numerator: 25, denominator: TEN_THOUSAND}}
                  empty:
              - name: admin
                admin_layer: {}
            """
        let runtime = try #require(Fixture.load(yaml)?.runtime)
        #expect(runtime.layers.map(\.name) == ["base", "override", "admin"])
        #expect(runtime.value("health_check.min_interval") == "10")
        #expect(runtime.layers.first?.values?["health_check.min_interval"] == "5")
        #expect(runtime.value("upstream.healthy_panic_threshold") == "50")
        #expect(runtime.value("overload.global_downstream_max_connections") == "1000")
        #expect(runtime.value("feature.enabled") == "true")
        #expect(runtime.value("feature.ratio") == "25/TEN_THOUSAND")
        #expect(runtime.value("empty") == "")
        #expect(runtime.value("missing") == nil)
        #expect(runtime.hasAdminLayer)
    }

    @Test("a runtime value that is a list is an error at the list")
    func runtimeList() {
        let yaml = """
            layered_runtime:
              layers:
              - name: base
                static_layer:
                  hosts: [a, b]
            """
        Fixture.expectOneError(
            yaml, at: "[a, b]", path: "layered_runtime.layers[0].static_layer.hosts",
            message: "runtime values cannot be lists")
    }

    @Test("a runtime layer needs a kind")
    func runtimeLayerWithoutKind() {
        let yaml = """
            layered_runtime:
              layers:
              - name: nothing
            """
        Fixture.expectOneError(
            yaml, at: "name: nothing", path: "layered_runtime.layers[0]",
            message: "layer kind is missing: set one of static_layer, disk_layer, admin_layer, rtds_layer")
    }

    @Test("node identity is read for /server_info")
    func nodeInfo() throws {
        let yaml = "node: {id: proxy-1, cluster: edge, locality: {region: eu, zone: eu-1a}}"
        let node = try #require(Fixture.load(yaml)?.node)
        #expect(node.id == "proxy-1" && node.cluster == "edge")
        #expect(node.locality == Locality(region: "eu", zone: "eu-1a"))
    }

    @Test("admin access_log_path becomes a file sink, /dev/null none")
    func adminAccessLog() throws {
        let address = "address: {socket_address: {address: 127.0.0.1, port_value: 9901}}"
        let toFile = "admin: {access_log_path: /tmp/admin.log, \(address)}"
        #expect(try #require(Fixture.load(toFile)?.admin).accessLogs.map(\.sink) == [.file("/tmp/admin.log")])
        let toNull = "admin: {access_log_path: /dev/null, \(address)}"
        #expect(try #require(Fixture.load(toNull)?.admin).accessLogs.isEmpty)
    }
}
