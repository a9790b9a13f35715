import FerryTestKit
import Foundation
import Testing

/// `outlier_detection` end to end: real upstreams, some failing; ejected hosts get no traffic,
/// `/clusters` and the `outlier_detection.*` stats say so, and hosts return after their time.
@Suite("Outlier detection")
struct OutlierDetectionTests {
    /// Two echo upstreams plus one `FlakyUpstream` per entry of `failing` (answering that status
    /// every time) in cluster `pool`, with `detection` as the cluster's outlier_detection fields.
    static func with(failing: [Int], detection: String,
                     _ body: (ProxyHarness, [FlakyUpstream]) async throws -> Void) async throws {
        var flaky: [FlakyUpstream] = []
        for (i, status) in failing.enumerated() {
            flaky.append(try await FlakyUpstream.start(name: "bad\(i)") { _ in .status(status) })
        }
        defer { for f in flaky { Task { await f.stop() } } }
        try await ProxyHarness.with(upstreams: ["a", "b"], yaml: { ports in
            var yaml = "- name: pool\n  type: STATIC\n  connect_timeout: 1s\n"
            yaml += "  outlier_detection: {interval: 0.1s, base_ejection_time: 1s, \(detection)}\n"
            yaml += "  load_assignment:\n    cluster_name: pool\n    endpoints:\n    - lb_endpoints:\n"
            for port in ports + flaky.map(\.port) {
                yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}\n"
            }
            return TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [], extraClusters: yaml)
        }) { proxy, _ in try await body(proxy, flaky) }
    }

    /// Sends requests in small batches until `done` holds (at most `limit` requests).
    static func drive(_ proxy: ProxyHarness, limit: Int = 60, until done: () async throws -> Bool) async throws {
        var sent = 0
        while sent < limit, try await !done() {
            _ = try await Support.sequential(proxy.url("/"), count: 3)
            sent += 3
        }
    }

    static func clusters(_ proxy: ProxyHarness) async throws -> String {
        try await ProxyHarness.admin("GET", "/clusters", port: proxy.adminPort).body
    }

    static func flags(_ text: String, port: Int) -> String? {
        let marker = "pool::127.0.0.1:\(port)::health_flags::"
        return text.components(separatedBy: "\n").first { $0.hasPrefix(marker) }.map { String($0.dropFirst(marker.count)) }
    }

    @Test("three 5xx in a row eject the host: no traffic, /failed_outlier_check and stats; it returns after base_ejection_time")
    func consecutive5xxEjectsAndReturns() async throws {
        try await Self.with(failing: [500], detection: "consecutive_5xx: 3, max_ejection_percent: 50") { proxy, flaky in
            let bad = flaky[0]
            try await Self.drive(proxy) { bad.requestCount >= 3 }
            #expect(bad.requestCount == 3)
            let before = bad.requestCount
            let statuses = try await Support.sequential(proxy.url("/"), count: 20).map(\.status)
            #expect(statuses == Array(repeating: 200, count: 20))
            #expect(bad.requestCount == before, "an ejected host got traffic")
            #expect(Self.flags(try await Self.clusters(proxy), port: bad.port) == "/failed_outlier_check")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_consecutive_5xx") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_detected_consecutive_5xx") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_total") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_total") == 1)
            #expect(try await proxy.stat("cluster.pool.membership_healthy") == 2)
            // Back after base_ejection_time (1s), at the next 0.1s sweep.
            let deadline = Date().addingTimeInterval(5)
            while Self.flags(try await Self.clusters(proxy), port: bad.port) != "healthy", Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(Self.flags(try await Self.clusters(proxy), port: bad.port) == "healthy")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
            _ = try await Support.sequential(proxy.url("/"), count: 6)
            #expect(bad.requestCount > before, "the returned host got no traffic")
        }
    }

    @Test("consecutive gateway failures eject only with enforcing_consecutive_gateway_failure")
    func gatewayFailure() async throws {
        let detection = "consecutive_5xx: 100, consecutive_gateway_failure: 3, enforcing_consecutive_gateway_failure: 100, max_ejection_percent: 50"
        try await Self.with(failing: [503], detection: detection) { proxy, flaky in
            try await Self.drive(proxy) { flaky[0].requestCount >= 3 }
            _ = try await Support.sequential(proxy.url("/"), count: 10)
            #expect(flaky[0].requestCount == 3)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_consecutive_gateway_failure") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_total") == 0)
        }
        // Envoy's default enforcing_consecutive_gateway_failure is 0: detected, counted, not ejected.
        try await Self.with(failing: [503], detection: "consecutive_5xx: 100, consecutive_gateway_failure: 3, max_ejection_percent: 50") { proxy, flaky in
            try await Self.drive(proxy) { flaky[0].requestCount >= 6 }
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_detected_consecutive_gateway_failure") == 2)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
        }
    }

    @Test("max_ejection_percent caps ejections: the second failing host overflows and keeps its traffic")
    func ejectionCap() async throws {
        try await Self.with(failing: [500, 500], detection: "consecutive_5xx: 3, max_ejection_percent: 25") { proxy, flaky in
            try await Self.drive(proxy) { flaky[0].requestCount + flaky[1].requestCount >= 9 }
            let text = try await Self.clusters(proxy)
            let flagged = flaky.filter { Self.flags(text, port: $0.port) == "/failed_outlier_check" }
            #expect(flagged.count == 1, "\(text)")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_overflow") ?? 0 >= 1)
        }
    }
}
