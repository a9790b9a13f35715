import FerryTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Twenty reloads while traffic runs: routes come and go, the cluster behind `/stable` moves
/// between two upstreams on every reload, one listener is added and one removed. Not one
/// request may fail and not one connection may be refused on the listener that stays; every
/// reload's new routes answer as soon as the reload is done.
@Suite("Reload under load", .serialized, .temporaryFiles)
struct ReloadUnderLoadTests {
    static let reloads = 20
    /// The listener `extra` appears with this reload; `legacy` disappears with `removeStep`.
    static let addStep = 5
    static let removeStep = 10

    /// The upstream the `pool` cluster points at after reload `step` (0: the initial config).
    static func upstream(step: Int) -> String { step % 2 == 0 ? "blue" : "green" }

    /// The configuration of reload `step`: `main` serves `/stable` (cluster `pool`), `/always`,
    /// and `/gen/<step>` (the previous step's route is gone).
    static func yaml(step: Int, echoes: [Int], extraPort: Int) -> String {
        let main = ReloadConfig.listener("main", routes: [
            ReloadConfig.route("/stable", "pool"), ReloadConfig.direct("/always", "always"),
            ReloadConfig.direct("/gen/\(step)", "generation \(step)"),
        ])
        var listeners = [main]
        if step < removeStep { listeners.append(ReloadConfig.listener("legacy", routes: [ReloadConfig.route("/", "pool")])) }
        if step >= addStep {
            listeners.append(ReloadConfig.listener("extra", port: extraPort, routes: [ReloadConfig.route("/", "pool")]))
        }
        let pool = ReloadConfig.cluster("pool", [step % 2 == 0 ? echoes[0] : echoes[1]])
        return ReloadConfig.bootstrap(listeners: listeners, clusters: [pool])
    }

    /// What must hold right after reload `step` is active, checked on the long-lived keep-alive
    /// `probe` to `main` and on fresh connections to the added and removed listeners.
    static func verify(step: Int, probe: KeepAliveProbe, mainPort: Int, legacyPort: Int, extraPort: Int) async throws {
        let new = try await probe.get("/gen/\(step)")
        #expect(new?.status == 200, "reload \(step): the new route does not answer")
        #expect(new?.bodyText == "generation \(step)")
        let request = "GET /gen/\(step) HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
        let fresh = try await RawHTTPClient.exchange(port: mainPort, request)
        #expect(fresh.body == "generation \(step)", "reload \(step): a new connection does not see the new route")
        #expect(try await probe.get("/gen/\(step - 1)")?.status == 404, "reload \(step): the removed route still answers")
        #expect(echoName(try await probe.get("/stable")) == upstream(step: step), "reload \(step): old upstream")
        if step == addStep {
            let added = try await KeepAliveProbe.open(port: extraPort)
            #expect(echoName(try await added.get("/stable")) == upstream(step: step))
            await added.close()
        }
        if step == removeStep {
            #expect(await Connect.refused(port: legacyPort), "the removed listener still accepts connections")
        }
    }

    /// Checks shared by both runs once the load has stopped.
    static func expectClean(_ report: LoadClient.Report, probe: KeepAliveProbe) {
        #expect(report.failures == 0, "\(report)")
        #expect(report.connectFailures == 0, "refused connections: \(report)")
        #expect(report.brokenConnections == 0, "\(report)")
        #expect(report.misrouted == 0, "\(report)")
        #expect(report.upstreams["blue", default: 0] > 0 && report.upstreams["green", default: 0] > 0, "\(report)")
        #expect(!probe.isClosed, "a reload closed a keep-alive connection of the listener that stayed")
    }

    enum Trigger: String, Sendable { case sighup = "SIGHUP", admin = "POST /reload" }

    @Test("20 reloads by SIGHUP under wrk and keep-alive traffic: no failed request, no refused connection",
          .enabled(if: Wrk.isInstalled), .timeLimit(.minutes(1)))
    func sighupReloadsUnderLoad() async throws {
        try await EchoServers.with(["blue", "green"]) { try await Self.run(.sighup, echoes: $0.map(\.port)) }
    }

    @Test("20 reloads by POST /reload under keep-alive and new-connection traffic: no failed request, no refused connection",
          .timeLimit(.minutes(1)))
    func adminReloadsUnderLoad() async throws {
        try await EchoServers.with(["blue", "green"]) { try await Self.run(.admin, echoes: $0.map(\.port)) }
    }

    /// Starts `ferry` (two workers) on step 0, puts load on `main`, and applies steps 1...20 with
    /// `trigger`, checking each as soon as it is active.
    static func run(_ trigger: Trigger, echoes: [Int]) async throws {
        let extraPort = try FreePort.pick()
        let path = try CLIConfigs.write(yaml(step: 0, echoes: echoes, extraPort: extraPort))
        try await FerryBinary.serve(["-c", path, "--concurrency", "2", "--drain-time-s", "2"]) { child, bound in
            let main = try #require(bound.listeners["main"])
            let legacyPort = try #require(bound.listeners["legacy"])
            let admin = try #require(bound.admin)
            #expect(try await Curl.fetch("http://127.0.0.1:\(legacyPort)/x").status == 200)
            let probe = try await KeepAliveProbe.open(port: main)
            // wrk runs for a fixed time: the test runner's children inherit a blocked SIGINT, so
            // it cannot be stopped early with a summary. 5 s cover the reloads.
            let url = "http://127.0.0.1:\(main)/stable"
            let wrk = trigger == .sighup ? try Wrk.start(url: url, connections: 4, maxSeconds: 5) : nil
            let load = LoadClient(port: main, paths: ["/stable", "/always"], keepAlive: 3, closing: 2, maxDuration: .seconds(60))
            let during: (responses: Int, elapsed: Duration)
            do {
                during = try await reloadAll(trigger, child: child, admin: admin, load: load) { step in
                    _ = try CLIConfigs.write(yaml(step: step, echoes: echoes, extraPort: extraPort))
                } verify: { step in
                    try await verify(step: step, probe: probe, mainPort: main, legacyPort: legacyPort, extraPort: extraPort)
                }
            } catch {
                _ = await load.stop()
                await wrk?.child.stop()
                throw error
            }
            let wrkResult = await wrk?.finish()
            let report = await load.stop()
            print("reload under load (\(trigger.rawValue)): \(reloads) reloads in \(during.elapsed), "
                + "\(during.responses) client responses during them; "
                + "client: \(report)" + (wrkResult.map { "; wrk: \($0.summary.map { "\($0)" } ?? $0.output)" } ?? ""))
            #expect(during.responses > 0, "no traffic while reloading")
            expectClean(report, probe: probe)
            if let wrkResult {
                let summary = try #require(wrkResult.summary, "wrk printed no summary:\n\(wrkResult.output)")
                #expect(summary.requests > 0)
                #expect(summary.non2xx3xx == 0, "\(wrkResult.output)")
                #expect(summary.socketErrors == 0, "\(wrkResult.output)")
            }
            #expect(try await Admin.stat("server.config_generation", adminPort: admin) == reloads + 1)
            #expect(try await Admin.stat("server.config_reload_failed", adminPort: admin) == 0)
            #expect(child.stderr.contains("configuration reloaded: generation \(reloads + 1)"))
            #expect(child.isRunning, "ferry died: \(FerryServe.ending(child))\n\(child.stderr.suffix(2000))")
            await probe.close()
        }
    }

    /// Waits for traffic, then runs reloads 1...20: `write` puts step N's file in place,
    /// `trigger` applies it, `verify` checks it. Returns the responses received meanwhile and
    /// how long the reloads took.
    static func reloadAll(_ trigger: Trigger, child: ChildProcess, admin: Int, load: LoadClient,
                          write: (Int) throws -> Void,
                          verify: (Int) async throws -> Void) async throws -> (responses: Int, elapsed: Duration) {
        load.expectUpstream(upstream(step: 0))
        #expect(await Support.eventually { load.report.responses >= 50 }, "no traffic: \(load.report)")
        let before = load.report.responses
        let start = ContinuousClock.now
        for step in 1...reloads {
            try write(step)
            load.expectUpstream(nil)  // requests sent while the reload runs may go either way
            switch trigger {
            case .sighup:
                child.signal(SIGHUP)
                let loaded = try await Support.eventually {
                    try await Admin.stat("server.config_generation", adminPort: admin) == step + 1
                }
                try #require(loaded, "reload \(step) did not happen:\n\(child.stderr.suffix(2000))")
            case .admin:
                let reply = try await FerryServe.post("/reload", adminPort: admin)
                try #require(reply.status == 200, "reload \(step): \(reply.body)")
            }
            load.expectUpstream(upstream(step: step))
            try await verify(step)
        }
        return (load.report.responses - before, ContinuousClock.now - start)
    }
}
