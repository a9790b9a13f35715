import FerryTestKit
import Foundation
import Synchronization
import Testing

/// Active health checking (`clusters[].health_checks`) against real upstreams: an endpoint that
/// fails its check leaves rotation and comes back after `healthy_threshold` passes, TCP
/// connect-only checks, timeouts, stats, and the check request next to Envoy's.
@Suite("Active health checking")
struct HealthCheckTests {
    /// Upstreams whose `/healthz` answers 200 while `healthy` is set (503 otherwise) and who
    /// answer other paths with `x-echo-name: <name>`.
    final class Switch: Sendable {
        let healthy = Atomic<Bool>(true)
        func set(_ value: Bool) { healthy.store(value, ordering: .relaxed) }
    }

    static func upstream(_ name: String, _ health: Switch, immediateFail: Bool = false) async throws -> FlakyUpstream {
        try await FlakyUpstream.start(name: name) { request in
            guard request.path.hasPrefix("/healthz") else { return .respond(200, headers: ["x-echo-name": name]) }
            if health.healthy.load(ordering: .relaxed) { return .respond(200) }
            return .respond(503, headers: immediateFail ? ["x-envoy-immediate-health-check-fail": "true"] : [:])
        }
    }

    static func cluster(_ ports: [Int], check: String) -> String {
        var yaml = "- name: pool\n  type: STATIC\n  connect_timeout: 1s\n  health_checks:\n  - \(check)\n"
        yaml += "  load_assignment:\n    cluster_name: pool\n    endpoints:\n    - lb_endpoints:\n"
        for port in ports { yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}\n" }
        return yaml
    }

    static let httpCheck = """
        {timeout: 1s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 2, healthy_threshold: 3, \
        http_health_check: {path: /healthz}}
        """

    /// A proxy over `ports` with `check`; `body` runs, then the proxy and `upstreams` stop.
    static func with(_ upstreams: [FlakyUpstream], ports: [Int]? = nil, check: String,
                     _ body: (ProxyHarness) async throws -> Void) async throws {
        try await withCleanup {
            let proxy = try await ProxyHarness.start(yaml: TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                extraClusters: cluster(ports ?? upstreams.map(\.port), check: check)))
            try await withCleanup { try await body(proxy) } cleanup: { await proxy.stop() }
        } cleanup: {
            for u in upstreams { await u.stop() }
        }
    }

    static func stat(_ proxy: ProxyHarness, _ name: String) async throws -> Int {
        try await proxy.stat("cluster.pool.\(name)") ?? -1
    }

    static func flags(_ proxy: ProxyHarness, _ port: Int) async throws -> String {
        let body = try await ProxyHarness.admin("GET", "/clusters", port: proxy.adminPort).body
        let prefix = "pool::127.0.0.1:\(port)::health_flags::"
        return body.split(separator: "\n").first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } ?? "?"
    }

    static func healthChecks(_ upstream: FlakyUpstream) -> [FlakyUpstream.Request] {
        upstream.requests.filter { $0.path.hasPrefix("/healthz") }
    }

    @Test("a failing HTTP check takes the endpoint out of rotation; healthy_threshold passes bring it back")
    func httpCheckEjectsAndRestores() async throws {
        let health = Switch()
        let a = try await Self.upstream("a", Switch())
        let b = try await Self.upstream("b", health)
        try await Self.with([a, b], check: Self.httpCheck) { (proxy: ProxyHarness) async throws in
            // The cluster warmed: both hosts passed their first check before the proxy started.
            #expect(try await Self.stat(proxy, "health_check.healthy") == 2)
            #expect(try await Self.flags(proxy, b.port) == "healthy")

            health.set(false)
            #expect(try await Support.eventually { try await Self.flags(proxy, b.port) == "/failed_active_hc" })
            let names = try await Support.sequential(proxy.url("/"), count: 20).map(\.value)
            #expect(Set(names) == ["a"], "\(names)")
            #expect(try await Self.stat(proxy, "membership_healthy") == 1)
            #expect(try await Self.stat(proxy, "health_check.healthy") == 1)
            #expect(try await Self.stat(proxy, "health_check.failure") >= 1)

            let checksBefore = Self.healthChecks(b).count
            health.set(true)
            #expect(try await Support.eventually { try await Self.flags(proxy, b.port) == "healthy" })
            // Envoy's healthy_threshold: three passing checks after the failures, not one.
            #expect(Self.healthChecks(b).count - checksBefore >= 3)
            #expect(try await Support.eventually {
                Set(try await Support.sequential(proxy.url("/"), count: 10).map(\.value)) == ["a", "b"]
            })
            #expect(try await Self.stat(proxy, "health_check.success") >= 5)
            #expect(try await Self.stat(proxy, "health_check.attempt") >= 8)
        }
    }

    @Test("the check request is GET path with host = the cluster's name and user-agent Envoy/HC")
    func requestShape() async throws {
        let a = try await Self.upstream("a", Switch())
        try await Self.with([a], check: Self.httpCheck) { (proxy: ProxyHarness) async throws in
            let check = try #require(Self.healthChecks(a).first)
            #expect(check.head.hasPrefix("GET /healthz HTTP/1.1\r\n"))
            #expect(check.header("host") == "pool")
            #expect(check.header("user-agent") == "Envoy/HC")
            #expect(check.header("x-envoy-expected-rq-timeout-ms") == nil)
            // reuse_connection (default true): later checks share the first connection.
            #expect(await a.wait { Self.healthChecks($0).count >= 3 })
            #expect(a.connectionsOpened == 1)
        }
    }

    @Test("a 503 with x-envoy-immediate-health-check-fail ejects at once, even for a retriable status")
    func immediateFail() async throws {
        let health = Switch()
        let a = try await Self.upstream("a", health, immediateFail: true)
        let check = """
            {timeout: 1s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 1000, healthy_threshold: 1, \
            http_health_check: {path: /healthz, retriable_statuses: [{start: 500, end: 600}]}}
            """
        try await Self.with([a], check: check) { (proxy: ProxyHarness) async throws in
            health.set(false)
            #expect(try await Support.eventually(timeout: .seconds(5)) { try await Self.flags(proxy, a.port) == "/failed_active_hc" })
        }
    }

    @Test("a normal response carrying x-envoy-immediate-health-check-fail takes its host out at once; passing checks bring it back")
    func immediateFailFromTraffic() async throws {
        let draining = Atomic<Bool>(false)
        let a = try await FlakyUpstream.start(name: "a") { request in
            // While "draining" a's checks fail too (3 are needed to eject it, 4+ s away), so no
            // passing check can bring it back while the test looks at the traffic's ejection,
            // however slow a loaded machine makes the requests.
            if request.path.hasPrefix("/healthz") { return .respond(draining.load(ordering: .relaxed) ? 503 : 200) }
            // While "draining", a's answers say so (as an Envoy in front of a failing app does).
            let headers = draining.load(ordering: .relaxed)
                ? ["x-echo-name": "a", "x-envoy-immediate-health-check-fail": "true"] : ["x-echo-name": "a"]
            return .respond(200, headers: headers)
        }
        let b = try await Self.upstream("b", Switch())
        // Checks every 2 s, so the ejection comes from the traffic, not from a check.
        let check = "{timeout: 1s, interval: 2s, no_traffic_interval: 2s, unhealthy_threshold: 3, healthy_threshold: 1, http_health_check: {path: /healthz}}"
        try await Self.with([a, b], check: check) { (proxy: ProxyHarness) async throws in
            #expect(try await Self.flags(proxy, a.port) == "healthy")
            draining.store(true, ordering: .relaxed)
            _ = try await Support.sequential(proxy.url("/"), count: 4)
            #expect(try await Self.flags(proxy, a.port) == "/failed_active_hc")
            let names = try await Support.sequential(proxy.url("/"), count: 10).map(\.value)
            #expect(Set(names) == ["b"], "\(names)")
            // Its health checks still pass: the next one (healthy_threshold 1) brings it back.
            draining.store(false, ordering: .relaxed)
            #expect(try await Support.eventually(timeout: .seconds(6)) { try await Self.flags(proxy, a.port) == "healthy" })
        }
    }

    @Test("a TCP connect-only check marks a closed port unhealthy and counts network failures")
    func tcpConnectOnly() async throws {
        let live = try await Self.upstream("live", Switch())
        let dead = try FreePort.dead()
        let check = "{timeout: 0.5s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}"
        try await Self.with([live], ports: [live.port, dead], check: check) { (proxy: ProxyHarness) async throws in
            #expect(try await Self.flags(proxy, live.port) == "healthy")
            #expect(try await Self.flags(proxy, dead) == "/failed_active_hc")
            let names = try await Support.sequential(proxy.url("/"), count: 10).map(\.value)
            #expect(Set(names) == ["live"], "\(names)")
            #expect(try await Self.stat(proxy, "health_check.network_failure") >= 1)
            #expect(try await Self.stat(proxy, "upstream_cx_connect_fail") == 0)
        }
    }

    @Test("health_check_config: checks go to the endpoint's health-check port; disable_active_health_check leaves it in rotation unchecked")
    func healthCheckConfig() async throws {
        let a = try await Self.upstream("a", Switch())
        let b = try await Self.upstream("b", Switch())
        let c = try await Self.upstream("c", Switch())
        let dead = try FreePort.dead()
        let check = "{timeout: 0.5s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 1, healthy_threshold: 1, tcp_health_check: {}}"
        var yaml = "- name: pool\n  type: STATIC\n  connect_timeout: 1s\n  health_checks:\n  - \(check)\n"
        yaml += "  load_assignment:\n    cluster_name: pool\n    endpoints:\n    - lb_endpoints:\n"
        // a: traffic port fine, health-check port closed → unhealthy. b: checked on its own port.
        // c: checks disabled → in rotation although never checked.
        yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(a.port)}}, health_check_config: {port_value: \(dead)}}\n"
        yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(b.port)}}}\n"
        yaml += "      - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(c.port)}}, health_check_config: {disable_active_health_check: true}}\n"
        try await withCleanup {
            let proxy = try await ProxyHarness.start(yaml: TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [], extraClusters: yaml))
            try await withCleanup {
                #expect(try await Self.flags(proxy, a.port) == "/failed_active_hc")
                #expect(try await Self.flags(proxy, b.port) == "healthy")
                #expect(try await Self.flags(proxy, c.port) == "healthy")
                let names = try await Support.sequential(proxy.url("/"), count: 20).map(\.value)
                #expect(Set(names) == ["b", "c"], "\(names)")
            } cleanup: { await proxy.stop() }
        } cleanup: {
            for u in [a, b, c] { await u.stop() }
        }
    }

    @Test("a check that gets no answer within timeout fails as a network failure")
    func timeout() async throws {
        let hanging = try await FlakyUpstream.start(name: "hang") { _ in .hang }
        let check = "{timeout: 0.2s, interval: 0.1s, no_traffic_interval: 0.1s, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: {path: /healthz}}"
        try await Self.with([hanging], check: check) { (proxy: ProxyHarness) async throws in
            #expect(try await Self.flags(proxy, hanging.port) == "/failed_active_hc")
            #expect(try await Support.eventually { try await Self.stat(proxy, "health_check.network_failure") >= 2 })
            #expect(try await Self.stat(proxy, "health_check.success") == 0)
        }
    }

    @Test("a reload that removes health_checks stops the checker: no more checks, the host stays in rotation")
    func reloadStopsChecker() async throws {
        let a = try await Self.upstream("a", Switch())
        let config = { (check: String?) in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                                 extraClusters: check.map { Self.cluster([a.port], check: $0) }
                                     ?? Self.cluster([a.port], check: "").replacingOccurrences(of: "  health_checks:\n  - \n", with: ""))
        }
        try await ProxyHarness.withConfigFile(yaml: { _ in config(Self.httpCheck) }) { proxy, _, file in
            #expect(await a.wait { Self.healthChecks($0).count >= 2 })
            try file.write(config(nil))
            #expect(try await proxy.reload().status == 200)
            let after = Self.healthChecks(a).count
            try await Task.sleep(for: .milliseconds(500))  // five intervals: a running checker would have checked
            #expect(Self.healthChecks(a).count <= after + 1, "checks went on after the reload")
            #expect(try await Self.flags(proxy, a.port) == "healthy")
            #expect(try await Support.sequential(proxy.url("/"), count: 3).map(\.value) == ["a", "a", "a"])
        }
        await a.stop()
    }

    @Test("Envoy 1.40 and Ferry send the same check request (method, path, host, user-agent)")
    func sameRequestAsEnvoy() async throws {
        guard (try? EnvoyProcess.binaryPath()) != nil else { return }
        let upstream = try await Self.upstream("u", Switch())
        let yaml = """
            admin: {address: {socket_address: {address: 127.0.0.1, port_value: 0}}}
            static_resources:
              clusters:
            \(Self.cluster([upstream.port], check: Self.httpCheck).split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
            """
        try await EnvoyProcess.with(yaml: yaml) { _ in
            #expect(await upstream.wait(timeout: .seconds(10)) { !Self.healthChecks($0).isEmpty })
        }
        let envoyCheck = try #require(Self.healthChecks(upstream).first)
        let countAfterEnvoy = upstream.requestCount
        let proxy = try await ProxyHarness.start(yaml: yaml)
        await proxy.stop()
        let ferryCheck = try #require(upstream.requests.dropFirst(countAfterEnvoy).first)
        let line = { (r: FlakyUpstream.Request) in r.head.prefix { $0 != "\r" } }
        #expect(line(ferryCheck) == line(envoyCheck))
        for name in ["host", "user-agent", "content-length", "transfer-encoding", "connection"] {
            #expect(ferryCheck.header(name) == envoyCheck.header(name), "\(name)")
        }
        await upstream.stop()
    }
}
