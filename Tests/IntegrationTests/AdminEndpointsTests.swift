import FerryTestKit
import Foundation
import Testing

/// The admin API's own pages and its mutating endpoints, through the real admin server and curl.
@Suite("Admin API endpoints")
struct AdminEndpointsTests {
    static let endpoints = [
        "/help", "/ready", "/server_info", "/stats", "/stats/prometheus", "/clusters", "/config_dump", "/listeners",
        "/memory", "/runtime", "/governance", "/governance/stream", "/runtime_modify", "/logging", "/healthcheck/fail", "/healthcheck/ok", "/reset_counters",
        "/quitquitquit", "/drain_listeners", "/reload",
    ]
    static let mutating = [
        "/runtime_modify", "/logging", "/healthcheck/fail", "/healthcheck/ok", "/reset_counters", "/quitquitquit", "/drain_listeners", "/reload",
    ]

    @Test("the index page is HTML that links every endpoint, with a POST form for each mutating one")
    func index() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let r = try await Admin.get(proxy, "/")
            #expect(r.status == 200)
            #expect(r.header("content-type") == "text/html; charset=UTF-8")
            #expect(r.body.hasPrefix("<!DOCTYPE html>"))
            for path in Self.endpoints where !Self.mutating.contains(path) {
                #expect(r.body.contains("<a href='\(path)'>\(path)</a>"), "missing link to \(path)")
            }
            for path in Self.mutating {
                let form = "<form action='\(path)' method='post'><button>\(path)</button></form>"
                #expect(r.body.contains(form), "missing form for \(path)")
            }
        }
    }

    @Test("/help lists every endpoint once, marking the mutating ones as POST")
    func help() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let r = try await Admin.get(proxy, "/help")
            #expect(r.status == 200)
            let lines = r.body.split(separator: "\n").map(String.init)
            #expect(lines.first == "admin commands are:")
            let paths = lines.dropFirst().map { line in
                String(line.trimmingCharacters(in: .whitespaces).prefix { $0 != ":" && $0 != " " })
            }
            #expect(paths == ["/"] + Self.endpoints)
            for path in Self.mutating { #expect(r.body.contains("  \(path) (POST): "), "\(path) not marked POST") }
        }
    }

    @Test("/ready answers LIVE, then 503 after POST /healthcheck/fail, then 200 again after POST /healthcheck/ok")
    func readyFollowsHealthcheck() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let live = try await Admin.get(proxy, "/ready")
            #expect(live.status == 200)
            #expect(live.body == "LIVE\n")
            let fail = try await Admin.post(proxy, "/healthcheck/fail")
            #expect(fail.status == 200)
            #expect(fail.body == "OK\n")
            let failed = try await Admin.get(proxy, "/ready")
            #expect(failed.status == 503)
            let ok = try await Admin.post(proxy, "/healthcheck/ok")
            #expect(ok.status == 200)
            let again = try await Admin.get(proxy, "/ready")
            #expect(again.status == 200)
            #expect(again.body == "LIVE\n")
        }
    }

    // Envoy 1.40 answers `/ready` with 503 "DRAINING\n" after /healthcheck/fail, reports state
    // DRAINING in /server_info and sets server.live to 0 (checked against the real Envoy).
    @Test("after POST /healthcheck/fail, /ready, /server_info and server.live report DRAINING as Envoy does")
    func failedHealthcheckLooksLikeEnvoy() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            _ = try await Admin.post(proxy, "/healthcheck/fail")
            #expect(try await Admin.get(proxy, "/ready").body == "DRAINING\n")
            #expect(try Admin.json(await Admin.get(proxy, "/server_info").body)["state"] as? String == "DRAINING")
            #expect(Admin.stats(try await Admin.get(proxy, "/stats?filter=^server%2Elive$").body)["server.live"] == "0")
        }
    }

    @Test("/server_info is JSON with the version, the LIVE state and the bootstrap's node")
    func serverInfo() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            "node: {id: node-7, cluster: edge, locality: {region: eu, zone: eu-1a}}\n" + AdminConfigs.backend(ports)
        }) { proxy, _ in
            let r = try await Admin.get(proxy, "/server_info")
            #expect(r.status == 200)
            #expect(r.header("content-type") == "application/json")
            let info = try Admin.json(r.body)
            #expect(info["version"] as? String == "test")
            #expect(info["state"] as? String == "LIVE")
            let node = try #require(info["node"] as? [String: Any])
            #expect(node["id"] as? String == "node-7")
            #expect(node["cluster"] as? String == "edge")
            let locality = try #require(node["locality"] as? [String: Any])
            #expect(locality["region"] as? String == "eu")
            #expect(locality["zone"] as? String == "eu-1a")
        }
    }

    @Test("/memory is JSON with Envoy's allocation fields as decimal strings")
    func memory() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let r = try await Admin.get(proxy, "/memory")
            #expect(r.status == 200)
            let memory = try Admin.json(r.body)
            let fields = ["allocated", "heap_size", "pageheap_unmapped", "pageheap_free", "total_thread_cache",
                          "total_physical_bytes"]
            #expect(Set(memory.keys) == Set(fields))
            for field in fields {
                #expect((memory[field] as? String).flatMap { UInt64($0) } != nil, "\(field) is not a count")
            }
            #expect(UInt64(memory["allocated"] as? String ?? "") ?? 0 > 0)
        }
    }

    @Test("/runtime shows the layered_runtime layers in order with each key's layer values and final value")
    func runtime() async throws {
        let runtime = """
        layered_runtime:
          layers:
          - name: base
            static_layer: {shared: from-base, feature: {enabled: true}}
          - name: override
            static_layer: {shared: from-override}

        """
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { runtime + AdminConfigs.backend($0) }) { proxy, _ in
            let r = try await Admin.get(proxy, "/runtime")
            #expect(r.status == 200)
            let body = try Admin.json(r.body)
            #expect(body["layers"] as? [String] == ["base", "override"])
            let entries = try #require(body["entries"] as? [String: [String: Any]])
            #expect(Set(entries.keys) == ["shared", "feature.enabled"])
            #expect(entries["shared"]?["layer_values"] as? [String] == ["from-base", "from-override"])
            #expect(entries["shared"]?["final_value"] as? String == "from-override")
            #expect(entries["feature.enabled"]?["layer_values"] as? [String] == ["true", ""])
            #expect(entries["feature.enabled"]?["final_value"] as? String == "true")
        }
    }

    @Test("POST /runtime_modify sets and removes admin-layer values over the static layers; without an admin layer it is refused as in Envoy")
    func runtimeModify() async throws {
        let layers = """
        layered_runtime:
          layers:
          - {name: base, static_layer: {shared: from-base, kept: base}}
          - {name: admin, admin_layer: {}}

        """
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { layers + AdminConfigs.backend($0) }) { proxy, _ in
            #expect(try await Admin.post(proxy, "/runtime_modify?shared=from-admin&added=1").status == 200)
            var entries = try #require(try Admin.json(try await Admin.get(proxy, "/runtime").body)["entries"] as? [String: [String: Any]])
            #expect(entries["shared"]?["layer_values"] as? [String] == ["from-base", "from-admin"])
            #expect(entries["shared"]?["final_value"] as? String == "from-admin")
            #expect(entries["added"]?["final_value"] as? String == "1")
            #expect(entries["kept"]?["final_value"] as? String == "base")
            // An empty value removes the override.
            #expect(try await Admin.post(proxy, "/runtime_modify?shared=").status == 200)
            entries = try #require(try Admin.json(try await Admin.get(proxy, "/runtime").body)["entries"] as? [String: [String: Any]])
            #expect(entries["shared"]?["final_value"] as? String == "from-base")
        }
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let refused = try await Admin.post(proxy, "/runtime_modify?a=b")
            #expect(refused.status == 503)
            #expect(refused.body == "No admin layer specified\n")
        }
    }

    @Test("POST /logging?level=debug sets every logger, and ?paths=upstream:trace changes only upstream")
    func logging() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let all = try await Admin.post(proxy, "/logging?level=debug")
            #expect(all.status == 200)
            let names = ["main", "config", "admin", "upstream", "dns", "connection", "http", "runtime"]
            #expect(all.body == "active loggers:\n" + names.map { "  \($0): debug\n" }.joined())
            let one = try await Admin.post(proxy, "/logging?paths=upstream:trace")
            #expect(one.status == 200)
            let levels = names.map { "  \($0): \($0 == "upstream" ? "trace" : "debug")\n" }
            #expect(one.body == "active loggers:\n" + levels.joined())
            #expect(proxy.levels.level(for: "upstream") == .trace)
            #expect(proxy.levels.level(for: "http") == .debug)
            let bad = try await Admin.post(proxy, "/logging?level=loud")
            #expect(bad.status == 400)
            #expect(bad.body.hasPrefix("invalid level \"loud\"\n"))
        }
    }

    @Test("every mutating endpoint refuses GET with 405 and leaves the server as it was")
    func mutatingRefusesGet() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            for path in Self.mutating + ["/logging?level=trace", "/healthcheck/fail"] {
                let r = try await Admin.get(proxy, path)
                #expect(r.status == 405, "GET \(path) answered \(r.status)")
                #expect(r.body.contains("requires POST"), "GET \(path): \(r.body)")
            }
            #expect(try await Admin.get(proxy, "/ready").status == 200)
            #expect(proxy.levels.level(for: "main") == .warning)
        }
    }

    @Test("an unknown admin path answers 404 with the list of commands")
    func unknownPath() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { AdminConfigs.backend($0) }) { proxy, _ in
            let r = try await Admin.get(proxy, "/no/such/endpoint")
            #expect(r.status == 404)
            #expect(r.body.hasPrefix("invalid path. admin commands are:\n"))
        }
    }
}
