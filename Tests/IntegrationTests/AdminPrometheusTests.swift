import FerryTestKit
import Foundation
import Testing

/// `/stats/prometheus`, checked by the real `promtool` (Debian's prometheus package).
@Suite("Admin /stats/prometheus")
struct AdminPrometheusTests {
    /// `promtool check metrics` reading `body` on stdin: exit status and complaints.
    static func promtool(_ body: String) async throws -> ChildProcess.Finished {
        let promtool = try #require(ChildProcess.which("promtool"), "promtool is missing; run scripts/install-test-deps")
        return try await ChildProcess.run(promtool, ["check", "metrics"], stdin: Data(body.utf8), timeout: 30)
    }

    static func sendTraffic(_ proxy: ProxyHarness) async throws {
        for path in ["/a", "/b", "/status/404", "/status/503"] {
            _ = try await Curl.fetch("http://127.0.0.1:\(proxy.port)\(path)")
        }
    }

    @Test("the default exposition passes promtool check metrics")
    func passesPromtool() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.sendTraffic(proxy)
            let r = try await Admin.get(proxy, "/stats/prometheus")
            #expect(r.status == 200)
            #expect(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
            let check = try await Self.promtool(r.body)
            #expect(!check.timedOut)
            #expect(check.status == 0, "promtool: \(check.stdout)\(check.stderr)")
        }
    }

    @Test("the gauge membership_total loses _total by default and keeps Envoy's name with ?naming=envoy")
    func membershipGaugeName() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let clean = try await Admin.get(proxy, "/stats/prometheus").body
            #expect(clean.contains("# TYPE envoy_cluster_membership gauge\n"))
            #expect(!clean.contains("envoy_cluster_membership_total"))
            let envoy = try await Admin.get(proxy, "/stats/prometheus?naming=envoy").body
            #expect(envoy.contains("# TYPE envoy_cluster_membership_total gauge\n"))
        }
    }

    @Test("the default exposition has HELP and TYPE lines, _total counters and labelled histograms")
    func defaultNaming() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.sendTraffic(proxy)
            let lines = Set(try await Admin.get(proxy, "/stats/prometheus").body.split(separator: "\n").map(String.init))
            #expect(lines.contains("# TYPE envoy_cluster_upstream_rq_xx_total counter"))
            #expect(lines.contains("envoy_cluster_upstream_rq_xx_total{envoy_response_code_class=\"2\",envoy_cluster_name=\"backend\"} 2"))
            #expect(lines.contains("envoy_cluster_upstream_rq_xx_total{envoy_response_code_class=\"5\",envoy_cluster_name=\"backend\"} 1"))
            #expect(lines.contains("# TYPE envoy_server_live gauge"))
            #expect(lines.contains("envoy_server_live 1"))
            #expect(lines.contains("# TYPE envoy_http_downstream_rq_time histogram"))
            #expect(lines.contains("envoy_http_downstream_rq_time_count{envoy_http_conn_manager_prefix=\"ingress_http\"} 4"))
            #expect(lines.contains { $0.hasPrefix("# HELP envoy_cluster_upstream_rq_xx_total ") })
        }
    }

    @Test("?naming=envoy gives Envoy's own family names, without the _total suffix Ferry adds")
    func envoyNaming() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.sendTraffic(proxy)
            let r = try await Admin.get(proxy, "/stats/prometheus?naming=envoy")
            #expect(r.status == 200)
            let lines = Set(r.body.split(separator: "\n").map(String.init))
            #expect(lines.contains("# TYPE envoy_cluster_upstream_rq_xx counter"))
            #expect(lines.contains("envoy_cluster_upstream_rq_xx{envoy_response_code_class=\"2\",envoy_cluster_name=\"backend\"} 2"))
            #expect(lines.contains("envoy_cluster_upstream_rq{envoy_response_code=\"404\",envoy_cluster_name=\"backend\"} 1"))
            #expect(lines.contains("envoy_cluster_upstream_rq_total{envoy_cluster_name=\"backend\"} 4"))
            #expect(lines.contains("envoy_http_downstream_rq_xx{envoy_response_code_class=\"4\",envoy_http_conn_manager_prefix=\"ingress_http\"} 1"))
            #expect(!lines.contains { $0.hasPrefix("envoy_cluster_upstream_rq_xx_total") })
            #expect(!lines.contains { $0.hasPrefix("# HELP") })
        }
    }

    @Test("?filter= and ?usedonly apply to the Prometheus output")
    func filterAndUsedOnly() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.sendTraffic(proxy)
            let filtered = try await Admin.get(proxy, "/stats/prometheus?filter=server%5C.live").body
            let samples = filtered.split(separator: "\n").filter { !$0.hasPrefix("#") }
            #expect(samples == ["envoy_server_live 1"])
            let used = try await Admin.get(proxy, "/stats/prometheus?usedonly").body
            #expect(!used.contains("envoy_cluster_upstream_rq_timeout_total"))
            #expect(used.contains("envoy_cluster_upstream_rq_completed_total{envoy_cluster_name=\"backend\"} 4"))
        }
    }
}
