@testable import FerryConfig
import Testing

/// `clusters[].health_checks`: Envoy's required fields and defaults, the HTTP and TCP checkers,
/// and clear refusals for what Ferry does not check with yet.
@Suite("Health check config")
struct HealthCheckConfigTests {
    static let base = "timeout: 1s, interval: 5s, unhealthy_threshold: 3, healthy_threshold: 2"

    static func yaml(_ check: String, common: String = "") -> String {
        Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  health_checks:\n  - {\(check)}" + (common.isEmpty ? "" : "\n  " + common))
    }

    static func checking(_ check: String, common: String = "") -> ActiveHealthChecking? {
        Fixture.load(yaml(check, common: common))?.clusters.first?.activeHealthChecking
    }

    @Test("an HTTP check is read with Envoy's defaults")
    func httpDefaults() throws {
        let checking = try #require(Self.checking(Self.base + ", http_health_check: {path: /healthz}"))
        let check = try #require(checking.checks.first)
        #expect(check.timeout == .seconds(1) && check.interval == .seconds(5))
        #expect(check.unhealthyThreshold == 3 && check.healthyThreshold == 2)
        #expect(check.noTrafficInterval == .seconds(60) && check.effectiveNoTrafficHealthyInterval == .seconds(60))
        #expect(check.effectiveUnhealthyInterval == .seconds(5) && check.effectiveUnhealthyEdgeInterval == .seconds(5))
        #expect(check.effectiveHealthyEdgeInterval == .seconds(5))
        #expect(check.reuseConnection)
        #expect(!checking.ignoreNewHostsUntilFirstHC)
        guard case .http(let http) = check.kind else { Issue.record("not HTTP"); return }
        #expect(http.path == "/healthz" && http.host == "" && http.method == "GET")
        #expect(http.expectedStatuses == [200..<201] && http.retriableStatuses.isEmpty)
    }

    @Test("intervals, statuses, headers, TCP payloads and ignore_new_hosts_until_first_hc are read")
    func everythingRead() throws {
        let http = try #require(Self.checking(Self.base + """
            , unhealthy_interval: 10s, unhealthy_edge_interval: 2s, healthy_edge_interval: 1s, no_traffic_interval: 30s, \
            interval_jitter: 0.5s, interval_jitter_percent: 10, initial_jitter: 1s, reuse_connection: false, \
            always_log_health_check_failures: true, \
            http_health_check: {path: /hc, host: svc.local, codec_client_type: HTTP1, method: HEAD, \
            expected_statuses: [{start: 200, end: 300}], retriable_statuses: [{start: 503, end: 504}], \
            request_headers_to_add: [{header: {key: x-hc, value: "1"}}], request_headers_to_remove: [x-drop]}
            """, common: "common_lb_config: {ignore_new_hosts_until_first_hc: true}"))
        let check = try #require(http.checks.first)
        #expect(http.ignoreNewHostsUntilFirstHC)
        #expect(check.effectiveUnhealthyInterval == .seconds(10) && check.effectiveUnhealthyEdgeInterval == .seconds(2))
        #expect(check.effectiveHealthyEdgeInterval == .seconds(1) && check.noTrafficInterval == .seconds(30))
        #expect(check.intervalJitter == .milliseconds(500) && check.intervalJitterPercent == 10 && !check.reuseConnection)
        guard case .http(let h) = check.kind else { Issue.record("not HTTP"); return }
        #expect(h.host == "svc.local" && h.method == "HEAD")
        #expect(h.expectedStatuses == [200..<300] && h.retriableStatuses == [503..<504])
        #expect(h.requestHeaders.add.map(\.name) == ["x-hc"] && h.requestHeaders.remove == ["x-drop"])

        let tcp = try #require(Self.checking(Self.base + ", tcp_health_check: {send: {text: 50494e47}, receive: [{text: 504F4E47}]}"))
        guard case .tcp(let t) = tcp.checks.first?.kind else { Issue.record("not TCP"); return }
        #expect(t.send == Array("PING".utf8) && t.receive == [Array("PONG".utf8)])
        let connectOnly = try #require(Self.checking(Self.base + ", tcp_health_check: {}"))
        guard case .tcp(let c) = connectOnly.checks.first?.kind else { Issue.record("not TCP"); return }
        #expect(c.send.isEmpty && c.receive.isEmpty)
    }

    @Test("a missing required field is named with a fix")
    func requiredFields() {
        let error = Fixture.expectOneError(Self.yaml("timeout: 1s, interval: 5s, unhealthy_threshold: 3, http_health_check: {path: /h}"),
                                           at: "{timeout", path: "static_resources.clusters[0].health_checks[0].healthy_threshold",
                                           message: "required field is missing")
        #expect(error?.fix?.contains("healthy_threshold") == true)
        Fixture.expectOneError(Self.yaml(Self.base + ", http_health_check: {host: x}"), at: "{host",
                               path: "static_resources.clusters[0].health_checks[0].http_health_check.path",
                               message: "required field is missing")
        Fixture.expectOneError(Self.yaml(Self.base), at: "{timeout", path: "static_resources.clusters[0].health_checks[0]",
                               message: "health checker is missing")
    }

    @Test("custom checkers, HTTP/2 HTTP checks and binary payloads are refused as not supported yet; gRPC checks need HTTP/2")
    func notSupported() {
        Fixture.expectOneError(Self.yaml(Self.base + ", custom_health_check: {name: x}"), at: "custom_health_check",
                               path: "static_resources.clusters[0].health_checks[0].custom_health_check",
                               message: "custom_health_check is not supported yet")
        Fixture.expectOneError(Self.yaml(Self.base + ", grpc_health_check: {}"), at: "health_checks",
                               path: "static_resources.clusters[0].health_checks",
                               message: "gRPC health checking needs a cluster that speaks HTTP/2")
        Fixture.expectOneError(Self.yaml(Self.base + ", http_health_check: {path: /h, codec_client_type: HTTP2}"), at: "HTTP2",
                               path: "static_resources.clusters[0].health_checks[0].http_health_check.codec_client_type",
                               message: "codec_client_type HTTP2 is not supported yet")
        Fixture.expectOneError(Self.yaml(Self.base + ", tcp_health_check: {send: {binary: AAEC}}"), at: "binary",
                               path: "static_resources.clusters[0].health_checks[0].tcp_health_check.send.binary",
                               message: "HealthCheck.Payload.binary is not supported yet")
        Fixture.expectError(Self.yaml(Self.base + ", event_log_path: /tmp/hc.log, tcp_health_check: {}"), at: "event_log_path",
                            path: "static_resources.clusters[0].health_checks[0].event_log_path", message: "not supported yet")
    }

    @Test("bad values: odd hex, an empty status range, a zero threshold, two checks")
    func badValues() {
        Fixture.expectOneError(Self.yaml(Self.base + ", tcp_health_check: {send: {text: ABC}}"), at: "ABC",
                               path: "static_resources.clusters[0].health_checks[0].tcp_health_check.send.text",
                               message: "not an even number of hex digits")
        Fixture.expectOneError(Self.yaml(Self.base + ", http_health_check: {path: /h, expected_statuses: [{start: 200, end: 200}]}"),
                               at: "{start: 200", path: "static_resources.clusters[0].health_checks[0].http_health_check.expected_statuses[0]",
                               message: "start 200 is not below end 200")
        Fixture.expectOneError(Self.yaml("timeout: 1s, interval: 5s, unhealthy_threshold: 0, healthy_threshold: 2, tcp_health_check: {}"),
                               at: "0,", path: "static_resources.clusters[0].health_checks[0].unhealthy_threshold",
                               message: "out of range")
        let two = Fixture.backendCluster + "\n  health_checks:\n  - {\(Self.base), tcp_health_check: {}}\n  - {\(Self.base), tcp_health_check: {}}"
        Fixture.expectOneError(Fixture.bootstrap(clusters: two), at: "{timeout", occurrence: 2,
                               path: "static_resources.clusters[0].health_checks[1]", message: "supports one health check")
    }
}
