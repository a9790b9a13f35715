import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.bulkhead` through the real proxy: a saturated slow route does not take
/// the fast one down, the queue admits in arrival order (across worker loops), a wait runs
/// out, shadow mode only counts, and a client that leaves gives its place back.
@Suite("Bulkhead filter")
struct BulkheadTests {
    static let type = "type.googleapis.com/ferry.filters.http.bulkhead.v1.Bulkhead"

    /// `/delay/...` gets the `slow` rule; every other path the `fast` rule (2 places).
    static func config(_ ports: [Int], slow: String) -> String {
        let routes = """
            - match: {prefix: "/delay"}
              route: {cluster: backend, timeout: 30s}
              typed_per_filter_config: {ferry.filters.http.bulkhead: {"@type": \(type), stat_prefix: slow, \(slow)}}
            - match: {prefix: "/"}
              route: {cluster: backend}
              typed_per_filter_config: {ferry.filters.http.bulkhead: {"@type": \(type), stat_prefix: fast, max_concurrent_requests: 2}}
            """
        let filter = """
            - name: ferry.filters.http.bulkhead
              disabled: true
              typed_config: {"@type": \(type), stat_prefix: unused, max_concurrent_requests: 1}
            """
        return TestConfig.bootstrap(routes: routes, clusters: [("backend", ports)], httpFilters: filter)
    }

    struct Timeout: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls an in-process stat until it has `value` (at most 10 s).
    static func waitFor(_ proxy: ProxyHarness, _ stat: String, _ value: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if await proxy.localStat(stat) == value { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Timeout(description: "\(stat) is \(String(describing: await proxy.localStat(stat))), expected \(value)")
    }

    static func expectFull(_ r: Curl.Result, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status == 503 && r.body == "bulkhead full" && r.header("x-ferry-bulkhead") == "full",
                "\(r.status) \(r.body)", sourceLocation: sourceLocation)
    }

    @Test("a saturated slow route refuses its overflow with 503 bulkhead full while the fast route keeps answering; /governance shows the occupancy")
    func isolation() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0, slow: "max_concurrent_requests: 2") },
                                    concurrency: 2) { proxy, _ in
            let slow = (0..<2).map { i in Task { try await Curl.fetch(proxy.url("/delay/4000?n=\(i)")) } }
            try await Self.waitFor(proxy, "slow.bulkhead.active", 2)
            for _ in 0..<3 { Self.expectFull(try await Curl.fetch(proxy.url("/delay/10"))) }
            for _ in 0..<3 { #expect(try await Curl.fetch(proxy.url("/fast")).status == 200) }
            // The slow requests were inside all along.
            #expect(await proxy.localStat("slow.bulkhead.active") == 2)
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance")
            let document = try #require(try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any])
            let rules = try #require(document["rules"] as? [[String: Any]])
            let slowRule = try #require(rules.first { ($0["key"] as? String)?.hasSuffix("route:all/0") == true })
            let state = try #require(slowRule["state"] as? [String: Any])
            #expect(state["kind"] as? String == "bulkhead" && state["occupancy"] as? Int == 2)
            #expect(state["max_concurrent_requests"] as? Int == 2 && state["queue_depth"] as? Int == 0)
            #expect((slowRule["counters"] as? [String: Any])?["rejected"] as? Int == 3)
            for task in slow { #expect(try await task.value.status == 200) }
            try await Self.waitFor(proxy, "slow.bulkhead.active", 0)
            #expect(await proxy.localStat("slow.bulkhead.admitted") == 2)
            #expect(await proxy.localStat("slow.bulkhead.rejected") == 3)
            #expect(await proxy.localStat("fast.bulkhead.admitted") == 3)
            #expect(await proxy.localStat("fast.bulkhead.rejected") == 0)
        }
    }

    @Test("with one place and a queue of 3, waiters are admitted oldest first (across 2 loops); a fourth waiter is refused at once")
    func fifoQueue() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: {
            Self.config($0, slow: "max_concurrent_requests: 1, max_queue: 3, max_wait: 20s")
        }, concurrency: 2) { proxy, _ in
            // A holds the place long enough for the queue to fill; then each waiter takes 300 ms.
            func request(_ name: String) -> Task<(String, Int, ContinuousClock.Instant), any Error> {
                Task { (name, try await Curl.fetch(proxy.url("/delay/\(name == "A" ? 3000 : 300)?n=\(name)")).status, ContinuousClock.now) }
            }
            var tasks = [request("A")]
            try await Self.waitFor(proxy, "slow.bulkhead.active", 1)
            for (i, name) in ["B", "C", "D"].enumerated() {
                tasks.append(request(name))
                try await Self.waitFor(proxy, "slow.bulkhead.queue_depth", i + 1)
            }
            Self.expectFull(try await Curl.fetch(proxy.url("/delay/10?n=E")))
            var results: [(String, Int, ContinuousClock.Instant)] = []
            for task in tasks { results.append(try await task.value) }
            #expect(results.allSatisfy { $0.1 == 200 })
            #expect(results.sorted { $0.2 < $1.2 }.map(\.0) == ["A", "B", "C", "D"])
            #expect(await proxy.localStat("slow.bulkhead.queued") == 3)
            #expect(await proxy.localStat("slow.bulkhead.admitted") == 4)
            #expect(await proxy.localStat("slow.bulkhead.rejected") == 1)
            try await Self.waitFor(proxy, "slow.bulkhead.queue_depth", 0)
            try await Self.waitFor(proxy, "slow.bulkhead.active", 0)
        }
    }

    @Test("a second bulkhead in the chain (state in an object per stream) queues a waiter and hands it the freed place")
    func secondBulkheadInChain() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            // The first bulkhead keeps each stream's place in the stream; the second, of the
            // same kind, keeps it in an object of its own per stream.
            let filters = """
                - name: ferry.filters.http.bulkhead
                  typed_config: {"@type": \(Self.type), stat_prefix: first, max_concurrent_requests: 10}
                - name: second_bulkhead
                  typed_config: {"@type": \(Self.type), stat_prefix: second, max_concurrent_requests: 1, max_queue: 1, max_wait: 20s}
                """
            return TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", ports)],
                                        httpFilters: filters)
        }) { proxy, _ in
            let holder = Task { try await Curl.fetch(proxy.url("/delay/1000")) }
            try await Self.waitFor(proxy, "second.bulkhead.active", 1)
            let waiter = Task { try await Curl.fetch(proxy.url("/delay/10")) }
            try await Self.waitFor(proxy, "second.bulkhead.queue_depth", 1)
            #expect(try await holder.value.status == 200)
            #expect(try await waiter.value.status == 200)
            #expect(await proxy.localStat("second.bulkhead.queued") == 1)
            #expect(await proxy.localStat("second.bulkhead.admitted") == 2)
            #expect(await proxy.localStat("first.bulkhead.admitted") == 2)
            try await Self.waitFor(proxy, "second.bulkhead.active", 0)
            try await Self.waitFor(proxy, "first.bulkhead.active", 0)
        }
    }

    @Test("key: {header: x-tenant} gives each tenant its own pool: a busy tenant is refused while another is served")
    func keyedPools() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: {
            Self.config($0, slow: "max_concurrent_requests: 1, key: {header: x-tenant}")
        }) { proxy, _ in
            let holder = Task { try await Curl.fetch(proxy.url("/delay/2000"), headers: ["x-tenant": "a"]) }
            try await Self.waitFor(proxy, "slow.bulkhead.active", 1)
            Self.expectFull(try await Curl.fetch(proxy.url("/delay/10"), headers: ["x-tenant": "a"]))
            let other = try await Curl.fetch(proxy.url("/delay/10"), headers: ["x-tenant": "b"])
            #expect(other.status == 200, "\(other.status) \(other.body)")
            #expect(await proxy.localStat("slow.bulkhead.rejected") == 1)
            #expect(try await holder.value.status == 200)
            // Tenant a's place is free again once its request ended.
            #expect(try await Curl.fetch(proxy.url("/delay/10"), headers: ["x-tenant": "a"]).status == 200)
        }
    }

    @Test("a waiter whose max_wait runs out gets 503 bulkhead full, counted as wait_timeout")
    func waitTimeout() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: {
            Self.config($0, slow: "max_concurrent_requests: 1, max_queue: 1, max_wait: 0.3s")
        }) { proxy, _ in
            let holder = Task { try await Curl.fetch(proxy.url("/delay/3000")) }
            try await Self.waitFor(proxy, "slow.bulkhead.active", 1)
            let started = ContinuousClock.now
            Self.expectFull(try await Curl.fetch(proxy.url("/delay/10")))
            #expect(ContinuousClock.now - started >= .milliseconds(280))
            #expect(await proxy.localStat("slow.bulkhead.wait_timeout") == 1)
            #expect(await proxy.localStat("slow.bulkhead.queued") == 1)
            #expect(await proxy.localStat("slow.bulkhead.rejected") == 0)
            #expect(await proxy.localStat("slow.bulkhead.queue_depth") == 0)
            #expect(try await holder.value.status == 200)
        }
    }

    @Test("shadow mode (filter_enforced 0%): a request finding the pool full passes and is counted as shadow_rejected")
    func shadowMode() async throws {
        let enforced = "filter_enforced: {default_value: {numerator: 0}}"
        try await ProxyHarness.with(upstreams: ["backend"], yaml: {
            Self.config($0, slow: "max_concurrent_requests: 1, max_queue: 2, max_wait: 5s, \(enforced)")
        }) { proxy, _ in
            let holder = Task { try await Curl.fetch(proxy.url("/delay/2000")) }
            try await Self.waitFor(proxy, "slow.bulkhead.active", 1)
            let passed = try await Curl.fetch(proxy.url("/delay/10"))
            #expect(passed.status == 200 && passed.header("x-ferry-bulkhead") == nil)
            #expect(await proxy.localStat("slow.bulkhead.shadow_rejected") == 1)
            #expect(await proxy.localStat("slow.bulkhead.rejected") == 0)
            #expect(await proxy.localStat("slow.bulkhead.queued") == 0)
            #expect(try await holder.value.status == 200)
        }
    }

    @Test("a client that resets gives its place back at once, not when the upstream would have answered")
    func clientResetFreesPlace() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { Self.config($0, slow: "max_concurrent_requests: 1") }) { proxy, _ in
            let started = ContinuousClock.now
            let gone = try await Curl.perform([proxy.url("/delay/8000")], timeout: 1)
            #expect(gone.exitCode == 28)  // curl's timeout: it closed the connection
            try await Self.waitFor(proxy, "slow.bulkhead.active", 0)
            #expect(try await Curl.fetch(proxy.url("/delay/10")).status == 200)
            #expect(ContinuousClock.now - started < .seconds(7))
        }
    }
}
