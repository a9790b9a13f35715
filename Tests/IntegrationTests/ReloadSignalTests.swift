import FerryTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Reloads of the real `ferry` binary by SIGHUP, and what a reload must not break in the
/// process: a clean exit afterwards.
@Suite("Reload by SIGHUP", .temporaryFiles)
struct ReloadSignalTests {
    typealias C = ReloadConfig

    static func config(pool: Int, version: String, connectTimeout: String = "1s") -> String {
        C.bootstrap(listeners: [C.listener("main", routes: [C.direct("/v", version), C.route("/", "pool")])],
                    clusters: [C.cluster("pool", [pool]).replacingOccurrences(of: "connect_timeout: 1s",
                                                                             with: "connect_timeout: \(connectTimeout)")])
    }

    /// Waits until `server.<name>` reaches `value`; false after 10 s.
    static func waitForStat(_ name: String, _ value: Int, admin: Int) async throws -> Bool {
        try await Support.eventually { try await Admin.stat(name, adminPort: admin) == value }
    }

    @Test("SIGHUP re-reads the -c file and re-applies the --config-yaml overlay; the log names the new generation")
    func sighupRereadsFileAndOverlay() async throws {
        try await EchoServers.with(["blue", "green"]) { echoes in
            let path = try CLIConfigs.write(Self.config(pool: echoes[0].port, version: "file v1"))
            let overlay = "static_resources:\n  clusters:\n" + C.cluster("pool", [echoes[1].port])
            try await FerryBinary.serve(["-c", path, "--config-yaml", overlay, "--concurrency", "1"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                #expect(try await Curl.fetch("http://127.0.0.1:\(port)/v").body == "file v1")
                #expect(try EchoReply(await Curl.fetch("http://127.0.0.1:\(port)/x").body).name == "green")
                _ = try CLIConfigs.write(Self.config(pool: echoes[0].port, version: "file v2"))
                child.signal(SIGHUP)
                #expect(try await Self.waitForStat("server.config_generation", 2, admin: admin))
                #expect(try await Curl.fetch("http://127.0.0.1:\(port)/v").body == "file v2")
                #expect(try EchoReply(await Curl.fetch("http://127.0.0.1:\(port)/x").body).name == "green",
                        "the overlay was not re-applied")
                #expect(child.stderr.contains("[info][main] SIGHUP: reloading configuration\n"))
                #expect(child.stderr.contains("[info][main] configuration reloaded: generation 2\n"))
            }
        }
    }

    @Test("a SIGHUP reload that fails changes nothing and says why: log, /server_info, server.config_reload_failed")
    func failedSighupReload() async throws {
        try await EchoServers.with(["blue"]) { echoes in
            let path = try CLIConfigs.write(Self.config(pool: echoes[0].port, version: "v1"))
            try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                let broken = Self.config(pool: echoes[0].port, version: "v2")
                    .replacingOccurrences(of: "lb_endpoints", with: "lb_endpoint")
                _ = try CLIConfigs.write(broken)
                child.signal(SIGHUP)
                #expect(try await Self.waitForStat("server.config_reload_failed", 1, admin: admin))
                #expect(child.stderr.contains("[error][main] configuration reload failed; keeping generation 1:\n"))
                #expect(child.stderr.contains("ferry.yaml:"), "the log does not point into the file")
                #expect(child.stderr.contains("lb_endpoint"))
                #expect(try await Curl.fetch("http://127.0.0.1:\(port)/v").body == "v1")
                #expect(try await Admin.stat("server.config_generation", adminPort: admin) == 1)
                let info = try Admin.json(try await Curl.fetch("http://127.0.0.1:\(admin)/server_info").body)
                #expect(info["config_generation"] as? Int == 1)
                #expect((info["last_reload_error"] as? String)?.contains("lb_endpoint") == true)
                #expect(child.isRunning)
            }
        }
    }

    @Test("after a reload that changes a cluster's connect_timeout, the upstream closing an idle connection does not crash ferry")
    func changedClusterSettingsDoNotCrash() async throws {
        let blue = try await EchoServer.start(name: "blue")
        do {
            try await Self.closeIdleAfterSettingsChange(blue)
            await blue.stop()
        } catch {
            await blue.stop()
            throw error
        }
    }

    static func closeIdleAfterSettingsChange(_ blue: EchoServer) async throws {
        let path = try CLIConfigs.write(Self.config(pool: blue.port, version: "v1"))
        try await FerryBinary.serve(["-c", path, "--concurrency", "1"]) { child, bound in
            let port = try #require(bound.listeners["main"])
            let admin = try #require(bound.admin)
            // One keep-alive upstream connection, idle in the pool of generation 1's cluster.
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/a").status == 200)
            _ = try CLIConfigs.write(Self.config(pool: blue.port, version: "v2", connectTimeout: "2s"))
            #expect(try await FerryServe.post("/reload", adminPort: admin).status == 200)
            #expect(try await Curl.fetch("http://127.0.0.1:\(port)/a").status == 200)
            await blue.stop()  // the upstream closes both keep-alive connections
            _ = try await Support.eventually {
                guard child.isRunning else { return true }
                return try await Admin.stat("cluster.pool.upstream_cx_active", adminPort: admin) == 0
            }
            #expect(child.isRunning, "ferry died: \(FerryServe.ending(child))")
            child.signal(SIGTERM)
            #expect(await child.waitForExit(timeout: 15) == 0)
            #expect(child.exitedNormally, "ferry ended by \(FerryServe.ending(child))")
        }
    }

    @Test("after reloads that move a cluster between upstreams under keep-alive traffic, SIGTERM exits with status 0")
    func exitAfterReloadsUnderLoad() async throws {
        try await EchoServers.with(["blue", "green"]) { echoes in
            let path = try CLIConfigs.write(Self.config(pool: echoes[0].port, version: "v0"))
            try await FerryBinary.serve(["-c", path, "--concurrency", "2", "--drain-time-s", "2"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                let load = LoadClient(port: port, paths: ["/a"], keepAlive: 4, maxDuration: .seconds(30))
                #expect(await Support.eventually { load.report.responses >= 50 })
                for step in 1...5 {
                    _ = try CLIConfigs.write(Self.config(pool: echoes[step % 2].port, version: "v\(step)"))
                    #expect(try await FerryServe.post("/reload", adminPort: admin).status == 200)
                }
                let report = await load.stop()
                #expect(report.failures == 0, "\(report)")
                child.signal(SIGTERM)
                #expect(await child.waitForExit(timeout: 15) == 0)
                #expect(child.exitedNormally, "ferry ended by \(FerryServe.ending(child))")
            }
        }
    }
}
