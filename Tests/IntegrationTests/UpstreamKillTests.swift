import FerryProxy
import FerryTestKit
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The upstream-kill test: three `ferry echo` processes behind one cluster with
/// `retry_on: connect-failure,reset` and `num_retries: 2`, steady keep-alive load, and one
/// upstream killed (SIGKILL) in the middle. No client request may fail: the request the victim
/// held when it died is retried (`reset`), later picks of the dead address are retried
/// (`connect-failure`), and the dead host serves nothing after its death.
///
/// Three clients, not more: Envoy's default `circuit_breakers` `max_retries` is 3 concurrent
/// retries (Ferry's too, and Ferry cannot configure it yet), so a fourth concurrent retry would
/// overflow and fail by design. The `previous_hosts` predicate keeps a retry off the host that
/// just failed; without it round robin can hand one request the dead host three times in a row
/// while other clients advance it, which fails in Envoy 1.40 too.
@Suite("Hardening: an upstream killed under load", .serialized)
struct UpstreamKillTests {
    static let routes = """
        - match: {prefix: "/"}
          route:
            cluster: trio
            retry_policy:
              retry_on: connect-failure,reset
              num_retries: 2
              retry_host_predicate:
              - name: envoy.retry_host_predicates.previous_hosts
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate
              host_selection_retry_max_attempts: 3
        """

    /// A `ferry echo` child process named `name` on a free port, ready to answer (started with
    /// ChildProcess).
    struct Echo {
        var name: String
        var port: Int
        var child: ChildProcess
        var address: String { "127.0.0.1:\(port)" }
    }

    /// Starts `count` echo processes, runs `body`, and stops whichever are still running.
    static func withEchoProcesses<T>(count: Int, _ body: ([Echo]) async throws -> T) async throws -> T {
        var echoes: [Echo] = []
        defer {
            for echo in echoes {
                echo.child.signal(SIGKILL)
                try? FileManager.default.removeItem(at: echo.child.directory)
            }
        }
        for i in 0..<count {
            let port = try FreePort.pick()
            let child = try ChildProcess.start(
                try FerryBinary.path(), ["echo", "--port", String(port), "--name", "echo-\(i)"])
            echoes.append(Echo(name: "echo-\(i)", port: port, child: child))
        }
        for echo in echoes {
            let ready = await Support.eventually(timeout: .seconds(15)) {
                let probe = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                return (try? await RawHTTPClient.exchange(port: echo.port, probe, timeout: 2))?.status == 200
            }
            guard ready else { throw ChildProcessError("\(echo.name) did not start:\n\(echo.child.stderr)") }
        }
        let result = try await body(echoes)
        for echo in echoes { await echo.child.stop() }
        return result
    }

    static func hostStatus(_ proxy: ProxyHarness, _ echo: Echo) async -> ProxyServer.HostStatus {
        await proxy.server.hostStatuses()["trio"]?[echo.address] ?? ProxyServer.HostStatus()
    }

    @Test(
        "one of three upstreams is killed under keep-alive load: zero failed requests, nothing served by the dead host")
    func killOneOfThree() async throws {
        try await Self.withEchoProcesses(count: 3) { echoes in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Self.routes, clusters: [("trio", echoes.map(\.port))])
            }) { proxy, _ in
                let victim = echoes[1]
                let port = proxy.port
                // 20 ms per request, so requests are always in flight on every host.
                async let load = KeepAliveLoad.run(port: port, clients: 3, duration: .seconds(4), maxRequests: 2000) {
                    _, _ in "/delay/20"
                }
                try await Task.sleep(for: .seconds(1))
                // Freeze the victim first, so that the requests it holds stay in flight until it dies.
                victim.child.signal(SIGSTOP)
                let holding = await Support.eventually(timeout: .seconds(5)) {
                    await Self.hostStatus(proxy, victim).rqActive >= 1
                }
                let inFlightAtKill = await Self.hostStatus(proxy, victim).rqActive
                victim.child.signal(SIGKILL)
                _ = await victim.child.waitForExit(timeout: 10)
                let killedAt = ContinuousClock.now
                let servedBeforeDeath = await Self.hostStatus(proxy, victim).counters.rqSuccess
                let report = await load

                #expect(holding, "the frozen victim never held a request")
                #expect(report.failures.isEmpty, "\(report.failures.count) failed: \(report.failures.prefix(3))")
                #expect(report.connectionsOpened == 3, "a client connection broke")
                // The requests in flight when the victim died were retried elsewhere and succeeded.
                let spanning = report.outcomes.filter { $0.started < killedAt && $0.ended > killedAt }
                #expect(spanning.count >= 1 && spanning.allSatisfy(\.succeeded))
                let after = report.outcomes.filter { $0.started > killedAt }
                #expect(!after.contains { $0.value == victim.name }, "the dead host answered after its death")
                #expect(Set(after.compactMap(\.value)) == Set([echoes[0].name, echoes[2].name]))
                #expect(await Self.hostStatus(proxy, victim).counters.rqSuccess == servedBeforeDeath)
                #expect(await Self.hostStatus(proxy, victim).counters.cxConnectFail >= 1)
                #expect(await proxy.localStat("cluster.trio.upstream_rq_retry") ?? 0 >= inFlightAtKill)
                #expect(await proxy.localStat("cluster.trio.upstream_cx_destroy_remote_with_active_rq") ?? 0 >= 1)
                #expect(await proxy.localStat("cluster.trio.upstream_rq_retry_overflow") == 0)
            }
        }
    }
}
