import FerryTestKit
import Foundation
import Testing

/// Configuration reloads through admin `POST /reload` on the in-process proxy started from a
/// file: what is re-read, what a failed reload leaves alone, and what happens to listeners and
/// requests in flight.
@Suite("Reload through POST /reload")
struct ReloadTests {
    typealias C = ReloadConfig

    static func main(_ routes: [String], port: Int = 0) -> String { C.listener("main", port: port, routes: routes) }

    @Test("POST /reload re-reads the -c file and re-applies the --config-yaml overlay on top of it")
    func rereadsFileAndOverlay() async throws {
        let file = { (ports: [Int], version: String) in
            C.bootstrap(listeners: [Self.main([C.direct("/v", version), C.route("/", "pool")])],
                        clusters: [C.cluster("pool", [ports[0]])])
        }
        // The overlay replaces the file's clusters: `pool` goes to green, not blue.
        let overlay = { (ports: [Int]) in "static_resources:\n  clusters:\n" + C.cluster("pool", [ports[1]]) }
        try await ProxyHarness.withConfigFile(upstreams: ["blue", "green"], yaml: { file($0, "file v1") },
                                              configYAML: overlay) { proxy, echoes, config in
            let probe = try await KeepAliveProbe.open(port: proxy.port(of: "main"))
            #expect(try await probe.get("/v")?.bodyText == "file v1")
            #expect(echoName(try await probe.get("/x")) == "green")
            try config.write(file(echoes.map(\.port), "file v2"))
            let reload = try await proxy.reload()
            #expect(reload.status == 200)
            #expect(reload.body == "OK: configuration generation 2 is active\n")
            #expect(try await probe.get("/v")?.bodyText == "file v2")
            #expect(echoName(try await probe.get("/x")) == "green", "the overlay was not re-applied")
            #expect(try await proxy.stat("server.config_generation") == 2)
            let info = try Admin.json(try await Admin.get(proxy, "/server_info").body)
            #expect(info["config_generation"] as? Int == 2)
            #expect(info["last_reload_error"] is NSNull)
            await probe.close()
        }
    }

    @Test("a reload that fails validation changes nothing and says why: reply, /server_info, server.config_reload_failed")
    func failedReloadChangesNothing() async throws {
        let good = { (ports: [Int], version: String) in
            C.bootstrap(listeners: [Self.main([C.direct("/v", version), C.route("/", "pool")])],
                        clusters: [C.cluster("pool", [ports[0]])])
        }
        // (The expected "reload failed" errors are not logged: critical level only.)
        try await ProxyHarness.withConfigFile(upstreams: ["blue"], yaml: { good($0, "v1") },
                                              logLevel: .critical) { proxy, echoes, config in
            let port = proxy.port(of: "main")
            // 1: a misspelled field (decode error); 2: a route to a cluster that does not exist.
            try config.write(good(echoes.map(\.port), "v2").replacingOccurrences(of: "connect_timeout", with: "connect_timout"))
            let typo = try await proxy.reload()
            #expect(typo.status == 400)
            #expect(typo.body.hasPrefix("reload failed; generation 1 stays active:\n"), "\(typo.body)")
            #expect(typo.body.contains("connect_timout"), "\(typo.body)")
            let dangling = C.bootstrap(listeners: [Self.main([C.direct("/v", "v3"), C.route("/", "nowhere")])],
                                       clusters: [C.cluster("pool", [echoes[0].port])])
            try config.write(dangling)
            let missing = try await proxy.reload()
            #expect(missing.status == 400)
            #expect(missing.body.contains("nowhere"), "\(missing.body)")
            #expect(proxy.port(of: "main") == port)
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/v").body == "v1")
            #expect(echoName(try await KeepAliveProbe.open(port: port).get("/x")) == "blue")
            let info = try Admin.json(try await Admin.get(proxy, "/server_info").body)
            #expect(info["config_generation"] as? Int == 1)
            #expect((info["last_reload_error"] as? String)?.contains("nowhere") == true, "\(info["last_reload_error"] ?? "nil")")
            #expect(try await proxy.stat("server.config_reload_failed") == 2)
            #expect(try await proxy.stat("server.config_generation") == 1)
            // Fixed: the next reload succeeds and clears the error.
            try config.write(good(echoes.map(\.port), "v4"))
            #expect(try await proxy.reload().status == 200)
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/v").body == "v4")
            let fixed = try Admin.json(try await Admin.get(proxy, "/server_info").body)
            #expect(fixed["config_generation"] as? Int == 2)
            #expect(fixed["last_reload_error"] is NSNull)
            #expect(try await proxy.stat("server.config_reload_failed") == 2)
        }
    }

    @Test("an unchanged listener keeps its socket: a keep-alive connection survives reloads and uses the new routes")
    func keptListenerKeepsConnections() async throws {
        let yaml = { (version: String) in
            C.bootstrap(listeners: [Self.main([C.direct("/v", version)])], clusters: [])
        }
        try await ProxyHarness.withConfigFile(yaml: { _ in yaml("v1") }, concurrency: 2) { proxy, _, config in
            let port = proxy.port(of: "main")
            let probe = try await KeepAliveProbe.open(port: port)
            #expect(try await probe.get("/v")?.bodyText == "v1")
            for version in ["v2", "v3", "v4"] {
                try config.write(yaml(version))
                #expect(try await proxy.reload().status == 200)
                let response = try await probe.get("/v")
                #expect(response?.bodyText == version)
                #expect(response?.header("connection") == nil)
            }
            #expect(!probe.isClosed)
            #expect(proxy.port(of: "main") == port)
            #expect(try await proxy.stat("http.main.downstream_cx_total") == 1)
            await probe.close()
        }
    }

    @Test("a removed listener stops accepting, closes idle connections and ends busy ones after their response")
    func removedListenerDrains() async throws {
        let yaml = { (ports: [Int], withOld: Bool) in
            let old = C.listener("old", routes: [C.route("/", "pool")])
            return C.bootstrap(listeners: [Self.main([C.route("/", "pool")])] + (withOld ? [old] : []),
                               clusters: [C.cluster("pool", [ports[0]])])
        }
        try await ProxyHarness.withConfigFile(upstreams: ["blue"], yaml: { yaml($0, true) }) { proxy, echoes, config in
            let oldPort = proxy.port(of: "old")
            let idle = try await KeepAliveProbe.open(port: oldPort)
            #expect(try await idle.get("/first")?.status == 200)
            let busy = try await RawConnection.connect(port: oldPort)
            try await busy.send("GET /delay/1000 HTTP/1.1\r\nhost: x\r\n\r\n")
            #expect(try await Support.eventually { try await proxy.stat("http.old.downstream_rq_active") == 1 })
            try config.write(yaml(echoes.map(\.port), false))
            #expect(try await proxy.reload().status == 200)
            #expect(await Connect.refused(port: oldPort), "the removed listener still accepts")
            #expect(await idle.connection.waitForClose(timeout: .seconds(5)), "the idle connection stayed open")
            let answered = await busy.responses(1)
            #expect(answered.first?.status == 200)
            #expect(answered.first?.header("connection") == "close")
            #expect(await busy.waitForClose(timeout: .seconds(5)))
            #expect(try await Curl.fetch("http://127.0.0.1:\(proxy.port(of: "main"))/x").status == 200)
            #expect(try await Admin.get(proxy, "/listeners").body == "main::127.0.0.1:\(proxy.port(of: "main"))\n")
            await busy.close()
            await idle.close()
        }
    }

    @Test("a listener added by a reload is bound and serving when POST /reload returns")
    func addedListenerBinds() async throws {
        let newPort = try FreePort.pick()
        let yaml = { (ports: [Int], withNew: Bool) in
            let added = C.listener("added", port: newPort, routes: [C.direct("/hello", "from added")])
            return C.bootstrap(listeners: [Self.main([C.route("/", "pool")])] + (withNew ? [added] : []),
                               clusters: [C.cluster("pool", [ports[0]])])
        }
        try await ProxyHarness.withConfigFile(upstreams: ["blue"], yaml: { yaml($0, false) }) { proxy, echoes, config in
            #expect(await Connect.refused(port: newPort))
            try config.write(yaml(echoes.map(\.port), true))
            #expect(try await proxy.reload().status == 200)
            #expect(try await Curl.fetch("http://127.0.0.1:\(newPort)/hello").body == "from added")
            #expect(proxy.port(of: "added") == newPort)
        }
    }

    @Test("a reload that moves a listener to a port in use fails, and the listener keeps serving on its old port")
    func moveToTakenPortChangesNothing() async throws {
        let squatter = try await EchoServer.start(name: "squatter")
        do {
            let yaml = { (port: Int, version: String) in
                C.bootstrap(listeners: [Self.main([C.direct("/v", version)], port: port)], clusters: [])
            }
            try await ProxyHarness.withConfigFile(yaml: { _ in yaml(0, "v1") }) { proxy, _, config in
                let port = proxy.port(of: "main")
                try config.write(yaml(squatter.port, "v2"))
                let reply = try await proxy.reload()
                #expect(reply.status == 400)
                #expect(reply.body.contains("cannot listen on 127.0.0.1:\(squatter.port)"), "\(reply.body)")
                let still = try await Curl.fetch("http://127.0.0.1:\(port)/v")
                #expect(still.exitCode == 0, "the listener's old socket was closed before the new one failed to bind")
                #expect(still.body == "v1")
                #expect(try await proxy.stat("server.config_generation") == 1)
            }
            await squatter.stop()
        } catch {
            await squatter.stop()
            throw error
        }
    }

    @Test("a slow request started before a reload that removes its route and cluster completes with 200 on the old generation")
    func inFlightRequestKeepsOldGeneration() async throws {
        let yaml = { (ports: [Int], withSlow: Bool) in
            let routes = withSlow ? [C.route("/delay", "slow"), C.route("/", "pool")] : [C.route("/", "pool")]
            return C.bootstrap(listeners: [Self.main(routes)],
                               clusters: [C.cluster("pool", [ports[0]])] + (withSlow ? [C.cluster("slow", [ports[1]])] : []))
        }
        try await ProxyHarness.withConfigFile(upstreams: ["pool", "slow"], yaml: { yaml($0, true) }) { proxy, echoes, config in
            let port = proxy.port(of: "main")
            let slow = try await RawConnection.connect(port: port)
            try await slow.send("GET /delay/1500 HTTP/1.1\r\nhost: x\r\n\r\n")
            #expect(try await Support.eventually { try await proxy.stat("http.main.downstream_rq_active") == 1 })
            try config.write(yaml(echoes.map(\.port), false))
            #expect(try await proxy.reload().status == 200)
            #expect(slow.received.isEmpty, "the slow request finished before the reload; the test proves nothing")
            // New requests already use the new generation: /delay goes to pool now.
            #expect(echoName(try await KeepAliveProbe.open(port: port).get("/delay/0")) == "pool")
            let answered = await slow.responses(1)
            #expect(answered.first?.status == 200)
            #expect(echoName(answered.first) == "slow")
            await slow.close()
        }
    }

    @Test("reloads requested at the same time run one after the other and each gets its own generation")
    func concurrentReloads() async throws {
        let yaml = C.bootstrap(listeners: [Self.main([C.direct("/v", "same")])], clusters: [])
        try await ProxyHarness.withConfigFile(yaml: { _ in yaml }) { proxy, _, _ in
            async let first = proxy.reload()
            async let second = proxy.reload()
            let bodies = Set([try await first.body, try await second.body])
            #expect(bodies == ["OK: configuration generation 2 is active\n", "OK: configuration generation 3 is active\n"])
            #expect(try await proxy.stat("server.config_generation") == 3)
        }
    }
}
