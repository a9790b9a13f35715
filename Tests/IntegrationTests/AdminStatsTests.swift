import FerryTestKit
import Foundation
import Testing

/// `/stats` in its text and JSON forms after a known set of proxied requests.
@Suite("Admin /stats")
struct AdminStatsTests {
    /// Five 200s, two upstream 404s and one upstream 503, one curl connection each, in order.
    static let requests = Array(repeating: "/ok", count: 5) + ["/status/404", "/status/404", "/status/503"]

    static func send(_ proxy: ProxyHarness) async throws {
        for path in requests {
            let r = try await Curl.fetch("http://127.0.0.1:\(proxy.port)\(path)")
            #expect(r.exitCode == 0, "curl \(path): \(r.stderr)")
        }
    }

    @Test("after 8 proxied requests the text counters hold exactly the downstream, upstream and listener counts")
    func countersAfterRequests() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let r = try await Admin.get(proxy, "/stats")
            #expect(r.status == 200)
            let stats = Admin.stats(r.body)
            let expected: [String: String] = [
                "http.ingress_http.downstream_rq_total": "8",
                "http.ingress_http.downstream_rq_2xx": "5",
                "http.ingress_http.downstream_rq_4xx": "2",
                "http.ingress_http.downstream_rq_5xx": "1",
                "http.ingress_http.downstream_cx_total": "8",
                "cluster.backend.upstream_rq_total": "8",
                "cluster.backend.upstream_rq_200": "5",
                "cluster.backend.upstream_rq_404": "2",
                "cluster.backend.upstream_rq_503": "1",
                "cluster.backend.upstream_rq_2xx": "5",
                "cluster.backend.upstream_rq_5xx": "1",
                // Sequential requests on one worker reuse one keep-alive upstream connection.
                "cluster.backend.upstream_cx_total": "1",
                "cluster.backend.membership_total": "1",
                // Envoy names listener stats after the configured address, so port 0 stays 0.
                "listener.127.0.0.1_0.downstream_cx_total": "8",
                "server.live": "1",
                "server.concurrency": "1",
            ]
            for (name, value) in expected.sorted(by: { $0.key < $1.key }) {
                #expect(stats[name] == value, "\(name)")
            }
        }
    }

    @Test("histograms for request times are listed with Envoy's quantiles after traffic")
    func histograms() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let stats = Admin.stats(try await Admin.get(proxy, "/stats").body)
            let quantiles = ["P0(", "P25(", "P50(", "P75(", "P90(", "P95(", "P99(", "P99.5(", "P99.9(", "P100("]
            for name in ["http.ingress_http.downstream_rq_time", "cluster.backend.upstream_rq_time"] {
                let line = try #require(stats[name], "\(name) missing")
                let parts = line.split(separator: " ")
                #expect(parts.map { String($0.prefix { $0 != "(" }) + "(" } == quantiles, "\(name): \(line)")
            }
        }
    }

    @Test("?filter= keeps only the stats whose names match the regex")
    func filter() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let r = try await Admin.get(proxy, "/stats?filter=%5Ecluster%5C.backend%5C.upstream_rq_%5B0-9%5D%2B%24")
            #expect(r.status == 200)
            #expect(r.body == """
                cluster.backend.upstream_rq_200: 5
                cluster.backend.upstream_rq_404: 2
                cluster.backend.upstream_rq_503: 1

                """)
            let bad = try await Admin.get(proxy, "/stats?filter=%28unclosed")
            #expect(bad.status == 400)
        }
    }

    @Test("?usedonly leaves out stats that never changed")
    func usedOnly() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let all = Admin.stats(try await Admin.get(proxy, "/stats").body)
            let used = Admin.stats(try await Admin.get(proxy, "/stats?usedonly").body)
            #expect(all["cluster.backend.upstream_rq_timeout"] == "0")
            #expect(used["cluster.backend.upstream_rq_timeout"] == nil)
            #expect(used["cluster.backend.upstream_rq_200"] == "5")
            #expect(used["http.ingress_http.downstream_rq_time"] != nil)
            let zeros = used.filter { $0.value == "0" }.keys.sorted()
            #expect(zeros.isEmpty, "usedonly shows unused stats: \(zeros)")
            #expect(used.count < all.count)
        }
    }

    @Test("?format=json is valid JSON with the same counter values and a histograms entry")
    func json() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let r = try await Admin.get(proxy, "/stats?format=json")
            #expect(r.status == 200)
            #expect(r.header("content-type") == "application/json")
            let items = try #require(try Admin.json(r.body)["stats"] as? [[String: Any]])
            var values: [String: Int] = [:]
            for item in items {
                if let name = item["name"] as? String, let value = item["value"] as? Int { values[name] = value }
            }
            #expect(values["http.ingress_http.downstream_rq_total"] == 8)
            #expect(values["cluster.backend.upstream_rq_200"] == 5)
            #expect(values["server.live"] == 1)
            let histograms = try #require(items.compactMap { $0["histograms"] as? [String: Any] }.first)
            #expect(histograms["supported_quantiles"] as? [Double] == [0, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100])
            let computed = try #require(histograms["computed_quantiles"] as? [[String: Any]])
            let names = computed.compactMap { $0["name"] as? String }
            #expect(names.contains("http.ingress_http.downstream_rq_time"))
            #expect(names.contains("cluster.backend.upstream_rq_time"))
        }
    }

    @Test("POST /reset_counters zeroes every counter, keeps gauges, and counting starts again from zero")
    func resetCounters() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            try await Self.send(proxy)
            let reset = try await Admin.post(proxy, "/reset_counters")
            #expect(reset.status == 200)
            #expect(reset.body == "OK\n")
            let after = Admin.stats(try await Admin.get(proxy, "/stats").body)
            #expect(after["http.ingress_http.downstream_rq_total"] == "0")
            #expect(after["cluster.backend.upstream_rq_200"] == "0")
            #expect(after["cluster.backend.upstream_cx_total"] == "0")
            #expect(after["server.live"] == "1")
            #expect(after["cluster.backend.membership_total"] == "1")
            let countersJSON = try Admin.json(try await Admin.get(proxy, "/stats?format=json&type=Counters").body)
            let nonZero = (countersJSON["stats"] as? [[String: Any]] ?? []).filter { ($0["value"] as? Int ?? 0) != 0 }
            #expect(nonZero.isEmpty, "counters not reset: \(nonZero)")
            _ = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/ok")
            let again = Admin.stats(try await Admin.get(proxy, "/stats").body)
            #expect(again["http.ingress_http.downstream_rq_total"] == "1")
            #expect(again["cluster.backend.upstream_rq_200"] == "1")
        }
    }
}
