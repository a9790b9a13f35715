import FerryTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Draining and shutdown of the `ferry` binary: SIGTERM, `POST /drain_listeners` followed by
/// `POST /quitquitquit`, and `/drain_listeners` alone.
@Suite("Drain and shutdown", .temporaryFiles)
struct DrainTests {
    enum Shutdown: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case sigterm, drainThenQuit
        var testDescription: String { self == .sigterm ? "SIGTERM" : "POST /drain_listeners, then POST /quitquitquit" }
    }

    static func config(echo: Int) -> String {
        ReloadConfig.bootstrap(listeners: [ReloadConfig.listener("main", routes: [ReloadConfig.route("/", "pool")])],
                               clusters: [ReloadConfig.cluster("pool", [echo])])
    }

    /// A keep-alive connection that has finished one request (idle) and one whose slow request
    /// is in flight at the proxy (busy).
    static func idleAndBusy(port: Int, admin: Int, delayMs: Int) async throws -> (KeepAliveProbe, RawConnection) {
        let idle = try await KeepAliveProbe.open(port: port)
        #expect(try await idle.get("/first")?.status == 200)
        let busy = try await RawConnection.connect(port: port)
        try await busy.send("GET /delay/\(delayMs) HTTP/1.1\r\nhost: x\r\n\r\n")
        let started = try await Support.eventually {
            try await Admin.stat("http.main.downstream_rq_active", adminPort: admin) == 1
        }
        try #require(started, "the slow request did not reach the proxy")
        return (idle, busy)
    }

    /// What a shutdown looks like from outside while the slow request is still in flight: the
    /// listener refuses connections and `/ready` and `/server_info` say DRAINING.
    static func expectDraining(port: Int, admin: Int, busy: RawConnection) async throws {
        #expect(await Support.eventually { await Connect.refused(port: port) }, "the listener still accepts connections")
        try await expectState("DRAINING", admin: admin)
        #expect(busy.received.isEmpty, "the slow request finished before draining was checked; the test proves nothing")
    }

    /// `/ready` (503 unless LIVE) and `/server_info` report `state`.
    static func expectState(_ state: String, admin: Int, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let ready = try await ProxyHarness.admin("GET", "/ready", port: admin)
        #expect(ready.status == (state == "LIVE" ? 200 : 503), sourceLocation: sourceLocation)
        #expect(ready.body == state + "\n", sourceLocation: sourceLocation)
        let info = try Admin.json(try await ProxyHarness.admin("GET", "/server_info", port: admin).body)
        #expect(info["state"] as? String == state, sourceLocation: sourceLocation)
    }

    /// The slow request's response arrives complete, tells the client to close, and the
    /// connection closes; the idle keep-alive connection is closed by the proxy.
    static func expectAnswered(busy: RawConnection, idle: KeepAliveProbe) async {
        let answered = await busy.responses(1)
        #expect(answered.first?.status == 200)
        #expect(answered.first?.header("connection") == "close")
        #expect(echoName(answered.first) == "pool")
        #expect(await busy.waitForClose(timeout: .seconds(5)), "the busy connection stayed open")
        #expect(await idle.connection.waitForClose(timeout: .seconds(5)), "the idle keep-alive connection stayed open")
    }

    @Test("shutdown stops accepting, reports DRAINING, answers the request in flight with connection: close and exits 0",
          arguments: Shutdown.allCases)
    func gracefulShutdown(_ shutdown: Shutdown) async throws {
        try await EchoServers.with(["pool"]) { echoes in
            let path = try CLIConfigs.write(Self.config(echo: echoes[0].port))
            try await FerryBinary.serve(["-c", path, "--concurrency", "2", "--drain-time-s", "10"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                let (idle, busy) = try await Self.idleAndBusy(port: port, admin: admin, delayMs: 1500)
                switch shutdown {
                case .sigterm:
                    child.signal(SIGTERM)
                case .drainThenQuit:
                    // As Envoy 1.40: /drain_listeners stops the listeners but the server stays
                    // LIVE; /quitquitquit then starts the shutdown, which reports DRAINING.
                    let drain = try await ProxyHarness.admin("POST", "/drain_listeners", port: admin)
                    #expect(drain.status == 200)
                    #expect(drain.body == "OK\n")
                    #expect(await Support.eventually { await Connect.refused(port: port) }, "the listener still accepts")
                    try await Self.expectState("LIVE", admin: admin)
                    #expect(child.isRunning, "/drain_listeners alone stopped the process")
                    let quit = try await ProxyHarness.admin("POST", "/quitquitquit", port: admin)
                    #expect(quit.status == 200)
                }
                try await Self.expectDraining(port: port, admin: admin, busy: busy)
                await Self.expectAnswered(busy: busy, idle: idle)
                let status = await child.waitForExit(timeout: 10)
                #expect(status == 0, "ferry did not exit 0 within --drain-time-s: \(FerryServe.ending(child))")
                let reason = shutdown == .sigterm ? "SIGTERM" : "admin /quitquitquit"
                #expect(child.stderr.contains("shutting down (\(reason)): draining for at most 10s"))
                #expect(!child.stderr.contains("drain time over"))
                await busy.close()
                await idle.close()
            }
        }
    }

    @Test("a request still running when --drain-time-s is over does not hold the exit")
    func drainTimeBoundsShutdown() async throws {
        try await EchoServers.with(["pool"]) { echoes in
            let path = try CLIConfigs.write(Self.config(echo: echoes[0].port))
            try await FerryBinary.serve(["-c", path, "--concurrency", "1", "--drain-time-s", "1"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                let (idle, busy) = try await Self.idleAndBusy(port: port, admin: admin, delayMs: 30_000)
                child.signal(SIGTERM)
                // 1 s of drain time plus generous slack; the request itself would take 30 s.
                let status = await child.waitForExit(timeout: 10)
                #expect(status == 0, "ferry did not exit after its drain time: \(FerryServe.ending(child))")
                #expect(child.stderr.contains("drain time over; closing 1 connection(s)"))
                #expect(await busy.waitForClose(timeout: .seconds(5)))
                #expect(WireResponse.parseAll(busy.received, closed: true).first?.status != 200)
                await busy.close()
                await idle.close()
            }
        }
    }

    @Test("POST /drain_listeners alone: no new connections, the request in flight finishes, the process and admin stay up")
    func drainListenersAlone() async throws {
        try await EchoServers.with(["pool"]) { echoes in
            let path = try CLIConfigs.write(Self.config(echo: echoes[0].port))
            try await FerryBinary.serve(["-c", path, "--concurrency", "2", "--drain-time-s", "10"]) { child, bound in
                let port = try #require(bound.listeners["main"])
                let admin = try #require(bound.admin)
                let (idle, busy) = try await Self.idleAndBusy(port: port, admin: admin, delayMs: 1000)
                let drain = try await ProxyHarness.admin("POST", "/drain_listeners", port: admin)
                #expect(drain.status == 200)
                #expect(await Support.eventually { await Connect.refused(port: port) }, "the listener still accepts connections")
                await Self.expectAnswered(busy: busy, idle: idle)
                #expect(child.isRunning)
                let stats = try await ProxyHarness.admin("GET", "/stats?filter=downstream_rq_total", port: admin)
                #expect(stats.status == 200)
                #expect(Admin.stats(stats.body)["http.main.downstream_rq_total"] == "2")
                #expect(try await ProxyHarness.admin("GET", "/server_info", port: admin).status == 200)
                #expect(child.isRunning, "ferry exited after /drain_listeners: \(FerryServe.ending(child))")
                #expect(!child.stderr.contains("shutting down"))
                await busy.close()
                await idle.close()
            }
        }
    }
}
