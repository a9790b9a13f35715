import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.fallback` through the real proxy: a static answer for an open breaker,
/// the last good response when the upstream fails, a backup cluster, and the order of actions.
@Suite("Fallback filter")
struct FallbackFilterTests {
    typealias S = BreakerSupport

    static let staticAction = "{static: {status: 200, body: degraded, headers: [{key: content-type, value: text/plain}]}}"

    @Test("an open breaker's rejection is answered by the static fallback listed before it; the breaker still counts failures")
    func staticForOpenBreaker() async throws {
        let health = S.Health(false)
        let upstream = try await FlakyUpstream.start { _ in health.isHealthy ? .respond(200) : .respond(500) }
        try await withCleanup {
            let filters = S.fallback("on: [circuit-open], actions: [\(Self.staticAction)]") + S.breaker(S.trippingFields(wait: "60s"))
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [upstream.port])],
                                     httpFilters: filters)
            }) { (proxy, _) async throws in
                // 5xx is not a trigger here: the upstream's 500s go through.
                for _ in 0..<4 { #expect(try await Curl.fetch(proxy.url("/")).status == 500) }
                let reply = try await Curl.fetch(proxy.url("/"))
                #expect(reply.status == 200 && reply.body == "degraded")
                #expect(reply.header("x-ferry-fallback") == "static")
                #expect(reply.header("content-type") == "text/plain")
                #expect(reply.header("x-ferry-circuit-breaker") == nil)
                #expect(upstream.requests.count == 4)
                #expect(try await proxy.stat("api.fallback.static") == 1)
                #expect(try await proxy.stat("api.circuit_breaker.calls_rejected") == 1)
            }
        } cleanup: {
            await upstream.stop()
        }
    }

    @Test("a failing upstream gets the last good response for the same path and query (with age), else the next action")
    func staleThenStatic() async throws {
        let health = S.Health(true)
        let upstream = try await FlakyUpstream.start { request in
            health.isHealthy ? .respond(200, headers: ["x-origin": "up"], body: "fresh \(request.path)") : .respond(500, body: "bad")
        }
        try await withCleanup {
            // The fallback sits after the breaker here: the breaker must still see the 500s.
            let filters = S.breaker("minimum_number_of_calls: 100, sliding_window: {size: 100}")
                + S.fallback("on: [5xx], actions: [{stale: {max_age: 60s}}, \(Self.staticAction)]")
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [upstream.port])],
                                     httpFilters: filters)
            }) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/item?id=1")).body == "fresh /item?id=1")
                health.isHealthy = false
                let stale = try await Curl.fetch(proxy.url("/item?id=1"))
                #expect(stale.status == 200 && stale.body == "fresh /item?id=1")
                #expect(stale.header("x-ferry-fallback") == "stale" && stale.header("x-origin") == "up")
                #expect(stale.header("age").flatMap { Int($0) }.map { $0 >= 0 && $0 < 60 } == true)
                let other = try await Curl.fetch(proxy.url("/item?id=2"))
                #expect(other.body == "degraded" && other.header("x-ferry-fallback") == "static")
                #expect(upstream.requests.count == 3)
                #expect(try await proxy.stat("api.fallback.stale") == 1)
                #expect(try await proxy.stat("api.fallback.static") == 1)
                #expect(try await proxy.stat("api.circuit_breaker.failures") == 2)
                #expect(try await proxy.stat("api.circuit_breaker.successes") == 1)
            }
        } cleanup: {
            await upstream.stop()
        }
    }

    @Test("a connect failure goes to the backup cluster; a request with an unkept body skips to the static answer")
    func backupCluster() async throws {
        let dead = try FreePort.dead()
        try await ProxyHarness.with(upstreams: ["backup"], yaml: { ports in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"),
                                 clusters: [("primary", [dead]), ("backup", [ports[0]])],
                                 httpFilters: S.fallback("on: [connect-failure], actions: [{backup_cluster: backup}, \(Self.staticAction)]"))
        }) { (proxy, _) async throws in
            let reply = try await Curl.fetch(proxy.url("/thing?x=1"))
            #expect(reply.status == 200)
            #expect(reply.header("x-ferry-fallback") == "backup")
            let echo = try EchoReply(reply.body)
            #expect(echo.name == "backup" && echo.path == "/thing?x=1")
            // A body the router did not keep (no retry policy) cannot be sent twice.
            let posted = try await Curl.fetch(["-s", "-i", "-X", "POST", "--data", "payload", proxy.url("/thing")])
            #expect(posted.status == 200 && posted.body == "degraded")
            #expect(try await proxy.stat("api.fallback.backup") == 1)
            #expect(try await proxy.stat("api.fallback.static") == 1)
        }
    }

    @Test("a backup that fails in turn goes on to the next action; each request starts again from the first action")
    func backupThatFails() async throws {
        let (deadPrimary, deadBackup) = (try FreePort.dead(), try FreePort.dead())
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"),
                                 clusters: [("primary", [deadPrimary]), ("backup", [deadBackup])],
                                 httpFilters: S.fallback("on: [connect-failure], actions: [{backup_cluster: backup}, \(Self.staticAction)]"))
        }) { (proxy, _) async throws in
            for round in 1...2 {
                let reply = try await Curl.fetch(proxy.url("/"))
                #expect(reply.status == 200 && reply.body == "degraded" && reply.header("x-ferry-fallback") == "static")
                // The next request tries the backup again: what the first stream went through is its own.
                #expect(try await proxy.stat("api.fallback.backup") == round)
                #expect(try await proxy.stat("api.fallback.static") == round)
            }
        }
    }

    @Test("with no action available the failure goes through and counts as unavailable")
    func unavailable() async throws {
        let dead = try FreePort.dead()
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"), clusters: [("primary", [dead])],
                                 httpFilters: S.fallback("on: [connect-failure], actions: [{stale: {}}]"))
        }) { (proxy, _) async throws in
            let reply = try await Curl.fetch(proxy.url("/"))
            #expect(reply.status == 503 && reply.header("x-ferry-fallback") == nil)
            #expect(try await proxy.stat("api.fallback.unavailable") == 1)
        }
    }

    @Test("shadow mode (filter_enforced 0%): the failure goes through, counted as what the fallback would have answered")
    func shadow() async throws {
        let dead = try FreePort.dead()
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"), clusters: [("primary", [dead])],
                                 httpFilters: S.fallback("on: [connect-failure], actions: [{static: {status: 200, body: plan-b}}], filter_enforced: {default_value: {numerator: 0}}"))
        }) { (proxy, _) async throws in
            let reply = try await Curl.fetch(proxy.url("/"))
            #expect(reply.status == 503 && reply.header("x-ferry-fallback") == nil)
            #expect(try await proxy.stat("api.fallback.shadow") == 1)
            #expect(try await proxy.stat("api.fallback.static") == 0)
        }
    }

    @Test("an unknown backup cluster fails the config load at its place, with a suggestion")
    func unknownBackupCluster() async throws {
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "primary"), clusters: [("primary", [1])],
                                        httpFilters: S.fallback("on: [5xx], actions: [{backup_cluster: primry}]"))
        await #expect {
            _ = try await ProxyHarness.start(yaml: yaml)
        } throws: { error in
            let text = String(describing: error)
            return text.contains("unknown cluster \"primry\" (did you mean primary?)") && text.contains("backup_cluster")
        }
    }
}
