import FerryTestKit
import Foundation
import Testing

/// `/clusters`, `/listeners` and `/config_dump`: what the proxy is running, in text and JSON.
@Suite("Admin /clusters, /listeners and /config_dump")
struct AdminTopologyTests {
    static func twoClusters(_ ports: [Int]) -> String {
        TestConfig.bootstrap(routes: """
        - match: {prefix: "/b"}
          route: {cluster: second}
        - match: {prefix: "/"}
          route: {cluster: backend}
        """, clusters: [("backend", [ports[0]]), ("second", [ports[1]])])
    }

    @Test("/clusters text lists each host with Envoy's name::address::field::value rows and live counts")
    func clustersText() async throws {
        try await ProxyHarness.with(upstreams: ["backend", "second"], yaml: Self.twoClusters) { proxy, echoes in
            for _ in 0..<3 { _ = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/a") }
            let r = try await Admin.get(proxy, "/clusters")
            #expect(r.status == 200)
            let lines = Set(r.body.split(separator: "\n").map(String.init))
            let host = "backend::127.0.0.1:\(echoes[0].port)::"
            for row in ["backend::observability_name::backend", "backend::added_via_api::false", "\(host)rq_total::3",
                        "\(host)rq_success::3", "\(host)rq_error::0", "\(host)cx_total::1", "\(host)health_flags::healthy",
                        "\(host)weight::1", "\(host)priority::0", "second::127.0.0.1:\(echoes[1].port)::rq_total::0"] {
                #expect(lines.contains(row), "missing \(row)")
            }
        }
    }

    @Test("/clusters?format=json is valid JSON with each cluster's hosts, addresses and stats")
    func clustersJSON() async throws {
        try await ProxyHarness.with(upstreams: ["backend", "second"], yaml: Self.twoClusters) { proxy, echoes in
            for _ in 0..<2 { _ = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/b") }
            let r = try await Admin.get(proxy, "/clusters?format=json")
            #expect(r.status == 200)
            let statuses = try #require(try Admin.json(r.body)["cluster_statuses"] as? [[String: Any]])
            #expect(statuses.compactMap { $0["name"] as? String }.sorted() == ["backend", "second"])
            let second = try #require(statuses.first { $0["name"] as? String == "second" })
            let hosts = try #require(second["host_statuses"] as? [[String: Any]])
            #expect(hosts.count == 1)
            let socket = (hosts.first?["address"] as? [String: Any])?["socket_address"] as? [String: Any]
            #expect(socket?["address"] as? String == "127.0.0.1")
            #expect(socket?["port_value"] as? Int == echoes[1].port)
            let stats = hosts.first?["stats"] as? [[String: Any]] ?? []
            let rqTotal = stats.first { $0["name"] as? String == "rq_total" }
            #expect(rqTotal?["value"] as? String == "2")
        }
    }

    @Test("/listeners shows each listener's bound port after port 0 was resolved, in text and JSON")
    func listeners() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            #expect(proxy.port != 0)
            let text = try await Admin.get(proxy, "/listeners")
            #expect(text.status == 200)
            #expect(text.body == "main::127.0.0.1:\(proxy.port)\n")
            let json = try Admin.json(try await Admin.get(proxy, "/listeners?format=json").body)
            let statuses = try #require(json["listener_statuses"] as? [[String: Any]])
            #expect(statuses.count == 1)
            #expect(statuses.first?["name"] as? String == "main")
            let socket = (statuses.first?["local_address"] as? [String: Any])?["socket_address"] as? [String: Any]
            #expect(socket?["address"] as? String == "127.0.0.1")
            #expect(socket?["port_value"] as? Int == proxy.port)
        }
    }

    @Test("/config_dump is valid JSON with the bootstrap, static clusters, listeners and route configs")
    func configDump() async throws {
        try await ProxyHarness.with(upstreams: ["backend", "second"], yaml: Self.twoClusters) { proxy, _ in
            let r = try await Admin.get(proxy, "/config_dump")
            #expect(r.status == 200)
            #expect(r.header("content-type") == "application/json")
            let configs = try #require(try Admin.json(r.body)["configs"] as? [[String: Any]])
            #expect(configs.compactMap { $0["@type"] as? String } == [
                "type.googleapis.com/envoy.admin.v3.BootstrapConfigDump",
                "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
                "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
            ])
            let bootstrap = configs[0]["bootstrap"] as? [String: Any]
            #expect((bootstrap?["static_resources"] as? [String: Any])?["clusters"] != nil)
            let clusters = configs[1]["static_clusters"] as? [[String: Any]] ?? []
            #expect(clusters.compactMap { ($0["cluster"] as? [String: Any])?["name"] as? String } == ["backend", "second"])
            #expect(clusters.allSatisfy { $0["last_updated"] is String })
            let listeners = configs[2]["static_listeners"] as? [[String: Any]] ?? []
            #expect(listeners.compactMap { ($0["listener"] as? [String: Any])?["name"] as? String } == ["main"])
            let routes = configs[3]["static_route_configs"] as? [[String: Any]] ?? []
            #expect(routes.compactMap { ($0["route_config"] as? [String: Any])?["name"] as? String } == ["local_route"])
            // Plain YAML scalars become JSON numbers, as in Envoy's dump.
            let cluster = clusters.first?["cluster"] as? [String: Any]
            let assignment = cluster?["load_assignment"] as? [String: Any]
            let locality = (assignment?["endpoints"] as? [[String: Any]])?.first
            let endpoint = ((locality?["lb_endpoints"] as? [[String: Any]])?.first?["endpoint"]) as? [String: Any]
            let socket = (endpoint?["address"] as? [String: Any])?["socket_address"] as? [String: Any]
            #expect(socket?["port_value"] is Int)
        }
    }

    @Test("/config_dump?resource= with a name that is not a repeated config field is 400 and lists the choices")
    func configDumpUnknownResource() async throws {
        try await ProxyHarness.with(upstreams: ["backend", "second"], yaml: Self.twoClusters) { proxy, _ in
            let unknown = try await Admin.get(proxy, "/config_dump?resource=nonsense")
            #expect(unknown.status == 400)
            #expect(unknown.body.contains("static_clusters, static_listeners, static_route_configs"))
        }
    }

    // Envoy 1.40 answers ?resource=static_clusters with one config per cluster, each typed
    // envoy.admin.v3.ClustersConfigDump.StaticCluster (checked against the real Envoy).
    @Test("/config_dump?resource=static_clusters lists each cluster as its own StaticCluster entry, as Envoy does")
    func configDumpResourceLikeEnvoy() async throws {
        try await ProxyHarness.with(upstreams: ["backend", "second"], yaml: Self.twoClusters) { proxy, _ in
            let r = try await Admin.get(proxy, "/config_dump?resource=static_clusters")
            let configs = try #require(try Admin.json(r.body)["configs"] as? [[String: Any]])
            #expect(configs.count == 2)
            let type = "type.googleapis.com/envoy.admin.v3.ClustersConfigDump.StaticCluster"
            #expect(configs.allSatisfy { $0["@type"] as? String == type })
            #expect(configs.compactMap { ($0["cluster"] as? [String: Any])?["name"] as? String } == ["backend", "second"])
        }
    }
}
