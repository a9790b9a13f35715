import FerryTestKit
import Foundation
import Testing

/// `outlier_detection` end to end: real upstreams, some failing; ejected hosts get no traffic,
/// `/clusters` and the `outlier_detection.*` stats say so, and hosts return after their time.
@Suite("Outlier detection")
struct OutlierDetectionTests {
    /// Cluster `pool` over `ports` behind one route, `detection` as its outlier_detection
    /// fields (no block when nil); unless `detection` says otherwise, the sweep runs every 0.1s
    /// and ejections last 30s (longer than any test).
    static func yaml(_ ports: [Int], detection: String?) -> String {
        var yaml = "- name: pool\n  type: STATIC\n  connect_timeout: 1s\n"
        if let detection {
            let base = detection.contains("base_ejection_time") ? "" : "base_ejection_time: 30s, "
            let interval = detection.contains("interval:") ? "" : "interval: 0.1s, "
            yaml += "  outlier_detection: {\(interval)\(base)\(detection)}\n"
        }
        yaml += "  load_assignment:\n    cluster_name: pool\n    endpoints:\n    - lb_endpoints:\n"
        for port in ports {
            yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}\n"
        }
        return TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [], extraClusters: yaml)
    }

    /// Two echo upstreams plus one `FlakyUpstream` per entry of `failing` (answering that status
    /// every time) in cluster `pool`. The third argument of `body` rewrites the config file
    /// with other outlier_detection fields (nil: none), for a reload.
    static func with(failing: [Int], detection: String,
                     _ body: (ProxyHarness, [FlakyUpstream], (String?) throws -> Void) async throws -> Void) async throws {
        var flaky: [FlakyUpstream] = []
        for (i, status) in failing.enumerated() {
            flaky.append(try await FlakyUpstream.start(name: "bad\(i)") { _ in .status(status) })
        }
        let bad = flaky
        do {
            try await ProxyHarness.withConfigFile(upstreams: ["a", "b"], yaml: { Self.yaml($0 + bad.map(\.port), detection: detection) }) {
                proxy, echoes, file in
                let ports = echoes.map(\.port) + bad.map(\.port)
                try await body(proxy, bad) { try file.write(Self.yaml(ports, detection: $0)) }
            }
        } catch {
            for f in flaky { await f.stop() }
            throw error
        }
        for f in flaky { await f.stop() }
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

    // base_ejection_time 3s leaves a loaded machine ample time for the checks made while ejected.
    @Test("three 5xx in a row eject the host: no traffic, /failed_outlier_check and stats; it returns after base_ejection_time")
    func consecutive5xxEjectsAndReturns() async throws {
        let detection = "consecutive_5xx: 3, max_ejection_percent: 50, base_ejection_time: 3s"
        try await Self.with(failing: [500], detection: detection) { proxy, flaky, _ in
            let bad = flaky[0]
            try await Self.drive(proxy) { bad.requestCount >= 3 }
            #expect(bad.requestCount == 3)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 1)
            let before = bad.requestCount
            let statuses = try await Support.sequential(proxy.url("/"), count: 10).map(\.status)
            #expect(statuses == Array(repeating: 200, count: 10))
            #expect(bad.requestCount == before, "an ejected host got traffic")
            #expect(Self.flags(try await Self.clusters(proxy), port: bad.port) == "/failed_outlier_check")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_consecutive_5xx") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_detected_consecutive_5xx") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_total") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_total") == 1)
            #expect(try await proxy.stat("cluster.pool.membership_healthy") == 2)
            // Back after base_ejection_time, at the next 0.1s sweep.
            let deadline = Date().addingTimeInterval(10)
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
        try await Self.with(failing: [503], detection: detection) { proxy, flaky, _ in
            try await Self.drive(proxy) { flaky[0].requestCount >= 3 }
            _ = try await Support.sequential(proxy.url("/"), count: 10)
            #expect(flaky[0].requestCount == 3)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_enforced_consecutive_gateway_failure") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_total") == 0)
        }
        // Envoy's default enforcing_consecutive_gateway_failure is 0: detected, counted, not ejected.
        try await Self.with(failing: [503], detection: "consecutive_5xx: 100, consecutive_gateway_failure: 3, max_ejection_percent: 50") { proxy, flaky, _ in
            try await Self.drive(proxy) { flaky[0].requestCount >= 6 }
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_detected_consecutive_gateway_failure") == 2)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
        }
    }

    @Test("max_ejection_percent caps ejections: the second failing host overflows and keeps its traffic")
    func ejectionCap() async throws {
        try await Self.with(failing: [500, 500], detection: "consecutive_5xx: 3, max_ejection_percent: 25") { proxy, flaky, _ in
            try await Self.drive(proxy) { flaky[0].requestCount + flaky[1].requestCount >= 9 }
            let text = try await Self.clusters(proxy)
            let flagged = flaky.filter { Self.flags(text, port: $0.port) == "/failed_outlier_check" }
            #expect(flagged.count == 1, "\(text)")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 1)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_overflow") ?? 0 >= 1)
        }
    }

    @Test("/clusters shows each host's success rate of the last interval once it has the volume")
    func successRateInClusters() async throws {
        let detection = "interval: 1s, consecutive_5xx: 1000, failure_percentage_minimum_hosts: 1, failure_percentage_request_volume: 1"
        try await Self.with(failing: [500], detection: detection) { proxy, flaky, _ in
            let bad = "pool::127.0.0.1:\(flaky[0].port)::success_rate::0\n"
            var text = ""
            var json = ""
            let deadline = Date().addingTimeInterval(15)
            // Traffic keeps flowing while polling, so every interval has volume.
            repeat {
                _ = try await Support.sequential(proxy.url("/"), count: 3)
                text = try await Self.clusters(proxy)
                json = try await ProxyHarness.admin("GET", "/clusters?format=json", port: proxy.adminPort).body
            } while !(text.contains(bad) && json.contains("\"success_rate\":{\"value\":0}")) && Date() < deadline
            #expect(text.contains(bad), "\(text)")
            #expect(text.contains("::success_rate::100\n"), "\(text)")
            #expect(json.contains("\"success_rate\":{\"value\":0}"), "\(json)")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
        }
    }

    @Test("a reload that changes outlier_detection replaces the detector; one that removes it ends ejections")
    func reloadReplacesAndRemoves() async throws {
        let ejected = "cluster.pool.outlier_detection.ejections_enforced_consecutive_5xx"
        try await Self.with(failing: [500], detection: "consecutive_5xx: 3, max_ejection_percent: 50") {
            proxy, flaky, rewrite in
            let bad = flaky[0]
            try await Self.drive(proxy) { bad.requestCount >= 3 }
            #expect(try await proxy.stat(ejected) == 1)
            // Changed settings: a new cluster with new hosts, all in rotation, counted afresh.
            try rewrite("consecutive_5xx: 4, max_ejection_percent: 50")
            #expect(try await proxy.reload().status == 200)
            #expect(Self.flags(try await Self.clusters(proxy), port: bad.port) == "healthy")
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
            try await Self.drive(proxy) { bad.requestCount >= 7 }
            #expect(bad.requestCount == 7)
            #expect(try await proxy.stat(ejected) == 2)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 1)
            // No outlier_detection: the old detector stops; the failing host keeps its traffic.
            try rewrite(nil)
            #expect(try await proxy.reload().status == 200)
            _ = try await Support.sequential(proxy.url("/"), count: 12)
            #expect(bad.requestCount >= 10)
            #expect(try await proxy.stat(ejected) == 2)
            #expect(try await proxy.stat("cluster.pool.outlier_detection.ejections_active") == 0)
            #expect(Self.flags(try await Self.clusters(proxy), port: bad.port) == "healthy")
        }
    }
}


/// The same consecutive-5xx ejection through Envoy 1.40 and Ferry: equal `outlier_detection.*` stats.
@Suite("Differential: outlier detection as Envoy 1.40", .serialized)
struct OutlierDetectionDifferentialTests {
    static func yaml(_ ports: [Int], cap: String) -> String {
        TestConfig.bootstrap(
            routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
            extraClusters: TestConfig.cluster(
                "pool", endpoints: ports.map { .init(port: $0) },
                extra: "outlier_detection: {consecutive_5xx: 3, interval: 0.1s, base_ejection_time: 30s\(cap)}"))
    }

    static let names = ["ejections_active", "ejections_total", "ejections_overflow", "ejections_enforced_total",
                        "ejections_detected_consecutive_5xx", "ejections_enforced_consecutive_5xx", "ejections_consecutive_5xx",
                        "ejections_detected_consecutive_gateway_failure", "ejections_enforced_consecutive_gateway_failure",
                        "ejections_detected_success_rate", "ejections_detected_failure_percentage"]
        .map { "cluster.pool.outlier_detection." + $0 } + ["cluster.pool.membership_healthy"]

    /// 12 requests in a row, then the stats once the detection settled (Envoy ejects on its main thread).
    static func run(port: Int, admin: Int) async throws -> [String: String] {
        _ = try await Support.sequential("http://127.0.0.1:\(port)/", count: 12)
        var stats: [String: String] = [:]
        let deadline = Date().addingTimeInterval(3)
        repeat {
            stats = Admin.stats(try await Curl.fetch("http://127.0.0.1:\(admin)/stats").body)
            if stats["cluster.pool.outlier_detection.ejections_detected_consecutive_5xx"] != "0" { break }
            try await Task.sleep(for: .milliseconds(50))
        } while Date() < deadline
        return stats
    }

    @Test("three 500s eject the failing endpoint with the same stats as Envoy",
          .enabled(if: DrainListenersOptionsTests.envoyInstalled))
    func consecutive5xxStats() async throws {
        try await FlakyUpstream.with([.status(500)]) { flaky in
            let envoy = try await Self.compare(flaky, cap: ", max_ejection_percent: 50")
            #expect(envoy["cluster.pool.outlier_detection.ejections_active"] == "1")
        }
    }

    // Envoy 1.40 ejects only while (ejected + 1) / hosts stays within max_ejection_percent
    // (unless always_eject_one_host), so one of three hosts (33%) is over the default 10%.
    @Test("with the default max_ejection_percent, a three-host cluster overflows instead of ejecting, as in Envoy",
          .enabled(if: DrainListenersOptionsTests.envoyInstalled))
    func defaultCapOverflows() async throws {
        try await FlakyUpstream.with([.status(500)]) { flaky in
            let envoy = try await Self.compare(flaky, cap: "")
            #expect(envoy["cluster.pool.outlier_detection.ejections_overflow"] != "0")
            #expect(envoy["cluster.pool.outlier_detection.ejections_active"] == "0")
        }
    }

    /// Runs the scenario through Envoy, then Ferry; expects equal stats and returns Envoy's.
    static func compare(_ flaky: FlakyUpstream, cap: String) async throws -> [String: String] {
        try await EchoServers.with(["a", "b"]) { echoes in
            let ports = echoes.map(\.port) + [flaky.port]
            let envoy = try await EnvoyProcess.with(yaml: Self.yaml(ports, cap: cap)) { envoy in
                let stats = try await Self.run(port: envoy.port(of: "main"), admin: envoy.adminPort)
                _ = try? await ProxyHarness.admin("POST", "/quitquitquit", port: envoy.adminPort)
                _ = await envoy.child.waitForExit(timeout: 5)
                return stats
            }
            let ferry = try await ProxyHarness.with(yaml: { _ in Self.yaml(ports, cap: cap) }) { proxy, _ in
                try await Self.run(port: proxy.port(of: "main"), admin: proxy.adminPort)
            }
            for name in Self.names {
                #expect(envoy[name] != nil, "Envoy has no \(name)")
                #expect(ferry[name] == envoy[name], "\(name): Ferry \(ferry[name] ?? "missing"), Envoy \(envoy[name] ?? "missing")")
            }
            return envoy
        }
    }
}
