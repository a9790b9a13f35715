import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.http.adaptive_concurrency` through the real proxy: the rejection and stats
/// against Envoy 1.40, the minRTT window at min_concurrency, the limit following upstream
/// latency, and the `enabled` switch.
@Suite("Adaptive concurrency filter")
struct AdaptiveConcurrencyTests {
    static let type = "type.googleapis.com/envoy.extensions.filters.http.adaptive_concurrency.v3.AdaptiveConcurrency"
    static let prefix = "http.ingress_http.adaptive_concurrency.gradient_controller."

    static func filter(update: String = "60s", requestCount: Int = 1000, minConcurrency: Int = 1, buffer: Int = 25,
                       extra: String = "") -> String {
        """
        - name: envoy.filters.http.adaptive_concurrency
          typed_config:
            "@type": \(type)
            gradient_controller_config:
              concurrency_limit_params: {concurrency_update_interval: \(update)}
              min_rtt_calc_params: {interval: 60s, request_count: \(requestCount), min_concurrency: \(minConcurrency), jitter: {value: 0}, buffer: {value: \(buffer)}}
        \(extra.isEmpty ? "" : "    " + extra.replacingOccurrences(of: "\n", with: "\n    "))
        """
    }

    static func yaml(_ filter: String, port: Int, top: String = "", hcmExtra: String = "") -> String {
        TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend, timeout: 30s}",
                             clusters: [("backend", [port])], hcmExtra: hcmExtra, httpFilters: filter, top: top)
    }

    /// The adaptive concurrency stats of an Envoy or Ferry admin port, by name.
    static func stats(admin: Int) async throws -> [String: String] {
        let body = try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=adaptive_concurrency").body
        var stats: [String: String] = [:]
        for line in body.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { stats[parts[0]] = parts[1] }
        }
        return stats
    }

    /// Waits (up to 10 s) until `count` requests are in flight to the backend.
    static func waitForActive(_ count: Int, admin: Int) async throws {
        for _ in 0..<200 {
            let body = try await Curl.fetch("http://127.0.0.1:\(admin)/stats?filter=cluster.backend.upstream_rq_active").body
            if body.contains("cluster.backend.upstream_rq_active: \(count)") { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("\(count) requests never became active")
    }

    struct Rejection: Equatable {
        var status: Int
        var body: String
        var contentType: String?
        var stats: [String: String]
    }

    /// With `slow` requests held by the upstream, one more request: what it gets, and the stats.
    static func rejection(port: Int, admin: Int, slow: Int) async throws -> Rejection {
        let held = (0..<slow).map { _ in Task { try await Curl.fetch("http://127.0.0.1:\(port)/delay/2500") } }
        try await waitForActive(slow, admin: admin)
        let r = try await Curl.fetch("http://127.0.0.1:\(port)/")
        for task in held { #expect(try await task.value.status == 200) }
        return Rejection(status: r.status, body: r.body, contentType: r.header("content-type"), stats: try await stats(admin: admin))
    }

    @Test("Envoy 1.40 and Ferry refuse the request over the limit alike: 503 `reached concurrency limit`, the same seven stats")
    func differential() async throws {
        let echo = try await EchoServer.start(name: "backend")
        defer { Task { await echo.stop() } }
        let yaml = Self.yaml(Self.filter(), port: echo.port)
        let envoy = try await EnvoyProcess.with(yaml: yaml) { e in try await Self.rejection(port: e.port(of: "main"), admin: e.adminPort, slow: 1) }
        let ferry = try await ProxyHarness.with(yaml: { _ in yaml }) { p, _ in try await Self.rejection(port: p.port, admin: p.adminPort, slow: 1) }
        #expect(ferry == envoy)
        #expect(ferry.status == 503 && ferry.body == "reached concurrency limit" && ferry.contentType == "text/plain")
        #expect(ferry.stats.count == 7 && ferry.stats[Self.prefix + "rq_blocked"] == "1")
        #expect(ferry.stats[Self.prefix + "concurrency_limit"] == "1" && ferry.stats[Self.prefix + "min_rtt_calculation_active"] == "1")
    }

    @Test("the minRTT window holds the limit at min_concurrency: two slow requests pass, the third is refused with the configured status")
    func minRTTWindow() async throws {
        let filter = Self.filter(minConcurrency: 2, extra: "concurrency_limit_exceeded_status: {code: 429}")
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
                Self.yaml(filter, port: ports[0], hcmExtra: log.yaml())
            }) { proxy, _ in
                let r = try await Self.rejection(port: proxy.port, admin: proxy.adminPort, slow: 2)
                #expect(r.status == 429 && r.body == "reached concurrency limit")
                #expect(r.stats[Self.prefix + "rq_blocked"] == "1" && r.stats[Self.prefix + "concurrency_limit"] == "2")
                // As Envoy: no response flag, details reached_concurrency_limit.
                let lines = await log.waitForLines(3)
                #expect(lines.contains("429 - reached_concurrency_limit"))
            }
        }
    }

    @Test("the limit grows while latency stays at minRTT and falls to the floor when the upstream slows down")
    func followsLatency() async throws {
        // 20 ms answers set minRTT; a 100% buffer keeps the gradient near 2 despite scheduling noise.
        let filter = Self.filter(update: "0.1s", requestCount: 5, minConcurrency: 3, buffer: 100)
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in Self.yaml(filter, port: ports[0]) }) { proxy, _ in
            let limit = Self.prefix + "concurrency_limit"
            var grown = 0
            for _ in 0..<200 where grown < 15 {
                #expect(try await Curl.fetch(proxy.url("/delay/20")).status == 200)
                grown = try await proxy.stat(limit) ?? 0
            }
            #expect(grown >= 15)
            #expect(try await proxy.stat(Self.prefix + "min_rtt_msecs") ?? 0 >= 20)
            // 200 ms answers are far above minRTT × 2: the gradient is 0.5 and the limit halves.
            var sawHalf = false
            var current = grown
            for _ in 0..<60 where current > 3 {
                #expect(try await Curl.fetch(proxy.url("/delay/200")).status == 200)
                current = try await proxy.stat(limit) ?? 0
                if try await proxy.stat(Self.prefix + "gradient") == 500 { sawHalf = true }
            }
            #expect(current == 3 && sawHalf)
            #expect(try await proxy.stat(Self.prefix + "sample_rtt_msecs") ?? 0 >= 200)
            #expect(try await proxy.stat(Self.prefix + "rq_blocked") == 0)
        }
    }

    @Test("enabled false, by default or through its runtime key, lets every request through without counting it")
    func disabled() async throws {
        let off = Self.filter(extra: "enabled: {default_value: false}")
        let runtimeOff = Self.filter(extra: "enabled: {default_value: true, runtime_key: ac.enabled}")
        let top = "layered_runtime:\n  layers:\n  - name: static\n    static_layer: {ac.enabled: \"0\"}"
        for (filter, top) in [(off, ""), (runtimeOff, top)] {
            try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in Self.yaml(filter, port: ports[0], top: top) }) { proxy, _ in
                let r = try await Self.rejection(port: proxy.port, admin: proxy.adminPort, slow: 2)
                #expect(r.status == 200)
                #expect(r.stats[Self.prefix + "rq_blocked"] == "0")
            }
        }
    }

    @Test("/governance shows the limit, outstanding requests, minRTT, sampleRTT, gradient and the measuring flag")
    func governance() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in Self.yaml(Self.filter(minConcurrency: 4), port: ports[0]) }) { proxy, _ in
            let held = Task { try await Curl.fetch(proxy.url("/delay/3000")) }
            try await Self.waitForActive(1, admin: proxy.adminPort)
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance")
            _ = try await held.value
            let document = try #require(try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any])
            let rule = try #require((document["rules"] as? [[String: Any]])?.first)
            #expect(rule["key"] as? String == "main/envoy.filters.http.adaptive_concurrency")
            let state = try #require(rule["state"] as? [String: Any])
            #expect(state["limit"] as? Int == 4 && state["outstanding"] as? Int == 1 && state["measuring_min_rtt"] as? Bool == true)
            #expect(state["min_rtt_ms"] is NSNull && state["sample_rtt_ms"] is NSNull && state["gradient"] as? Double == 0)
            #expect((rule["counters"] as? [String: Any])?["rq_blocked"] as? Int == 0)
        }
    }

    @Test("a client that resets gives its place back and no sample: the next request is admitted and minRTT is still being measured")
    func resetGivesNoSample() async throws {
        let filter = Self.filter(requestCount: 2, minConcurrency: 1)
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in Self.yaml(filter, port: ports[0]) }) { proxy, _ in
            let gaveUp = try await Curl.fetch(["-s", "-o", "/dev/null", "--max-time", "0.3", proxy.url("/delay/3000")])
            #expect(gaveUp.status != 200)  // curl gave up (timeout), the proxy saw a reset
            let freed = await Support.eventually {
                (try? await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance").body.contains("\"outstanding\":0")) == true
            }
            #expect(freed)
            #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any])
            let rule = try #require((document["rules"] as? [[String: Any]])?.first)
            let state = try #require(rule["state"] as? [String: Any])
            // One sample of the two minRTT needs: the reset gave none.
            #expect(state["measuring_min_rtt"] as? Bool == true && state["min_rtt_ms"] is NSNull)
            #expect((rule["counters"] as? [String: Any])?["rq_blocked"] as? Int == 0)
        }
    }
}
