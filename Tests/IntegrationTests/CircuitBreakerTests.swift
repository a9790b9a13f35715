import FerryTestKit
import Testing

/// Cluster circuit breakers end to end (Envoy 1.40 semantics): max_requests and
/// max_pending_requests answer 503 UO with Envoy's body and details, max_connections makes
/// requests wait for a connection, the retry budget bounds retries, track_remaining publishes
/// gauges, and a reload applies new limits. Requests are made concurrent by waiting for the
/// upstream or a stat to show the earlier ones in flight, never by sleeping.
@Suite("Circuit breakers")
struct CircuitBreakerTests {
    static let overflowBody = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
    static let overflowLine = "503 UO upstream_reset_before_response_started{overflow} 1"

    static func breakers(_ thresholds: String) -> String { "circuit_breakers: {thresholds: [{\(thresholds)}]}" }

    /// Polls a stat until it equals `value` (at most 5 s).
    static func waitForStat(_ proxy: ProxyHarness, _ name: String, _ value: Int) async throws -> Bool {
        for _ in 0..<100 {
            if try await proxy.stat(name) == value { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Requests answered after 1.5 s: long enough to hold their slots while the test acts.
    static func withSlowUpstream(_ body: (FlakyUpstream) async throws -> Void) async throws {
        let upstream = try await FlakyUpstream.start { _ in .after(.milliseconds(1500), .respond(200, body: "slow")) }
        do {
            try await body(upstream)
            await upstream.stop()
        } catch {
            await upstream.stop()
            throw error
        }
    }

    @Test("max_requests 2: a third concurrent request gets 503 UO with Envoy's body, details and x-envoy-overloaded")
    func maxRequests() async throws {
        try await Self.withSlowUpstream { upstream in
            try await RetryRig.run([upstream], routes: RetryRig.route(), clusterExtra: Self.breakers("max_requests: 2")) {
                (proxy, log) async throws in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<2 { group.addTask { try await Curl.fetch(proxy.url("/")).status } }
                    #expect(await upstream.wait { $0.requestCount == 2 })
                    let third = try await Curl.fetch(proxy.url("/"))
                    #expect(third.status == 503)
                    #expect(third.body == Self.overflowBody)
                    #expect(third.header("x-envoy-overloaded") == "true")
                    #expect(await log.waitForLines(1).first == Self.overflowLine)
                    #expect(try await proxy.stat("cluster.flaky.circuit_breakers.default.rq_open") == 1)
                    var statuses: [Int] = []
                    for try await status in group { statuses.append(status) }
                    #expect(statuses == [200, 200])
                }
                #expect(upstream.requestCount == 2)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_overflow") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_503") == 1)
                #expect(try await proxy.stat("cluster.flaky.circuit_breakers.default.rq_open") == 0)
                #expect(try await proxy.stat("cluster.flaky.circuit_breakers.high.rq_open") == 0)
                #expect(try await proxy.stat("cluster.flaky.circuit_breakers.default.remaining_rq") == nil,
                        "remaining gauges need track_remaining")
            }
        }
    }

    @Test("max_connections 1, max_pending_requests 1: the second request waits for the connection, the third gets 503 UO")
    func pendingQueue() async throws {
        try await Self.withSlowUpstream { upstream in
            let limits = Self.breakers("max_connections: 1, max_pending_requests: 1")
            try await RetryRig.run([upstream], routes: RetryRig.route(), clusterExtra: limits) { (proxy, log) async throws in
                try await withThrowingTaskGroup(of: (Int, ContinuousClock.Instant).self) { group in
                    let started = ContinuousClock.now
                    group.addTask { (try await Curl.fetch(proxy.url("/")).status, ContinuousClock.now) }
                    #expect(await upstream.wait { $0.requestCount == 1 })
                    group.addTask { (try await Curl.fetch(proxy.url("/")).status, ContinuousClock.now) }
                    #expect(try await Self.waitForStat(proxy, "cluster.flaky.upstream_rq_pending_active", 1))
                    #expect(try await proxy.stat("cluster.flaky.circuit_breakers.default.rq_pending_open") == 1)
                    #expect(try await proxy.stat("cluster.flaky.circuit_breakers.default.cx_open") == 1)
                    let third = try await Curl.fetch(proxy.url("/"))
                    #expect(third.status == 503)
                    #expect(third.body == Self.overflowBody)
                    #expect(await log.waitForLines(1).first == Self.overflowLine)
                    var results: [(Int, ContinuousClock.Instant)] = []
                    for try await result in group { results.append(result) }
                    #expect(results.map(\.0) == [200, 200])
                    // The waiting request ran after the first one, on the same connection.
                    let last = results.map(\.1).max() ?? started
                    #expect(last - started >= .milliseconds(2900), "\(last - started)")
                }
                #expect(upstream.connectionsOpened == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_cx_overflow") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_overflow") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_total") == 2)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_active") == 0)
            }
        }
    }

    @Test("a request waiting for a connection ends at its route timeout with 504 UT and stops being pending")
    func pendingTimesOut() async throws {
        try await Self.withSlowUpstream { upstream in
            let limits = Self.breakers("max_connections: 1")
            let routes = RetryRig.route("/short", "timeout: 0.5s") + RetryRig.route("/")
            try await RetryRig.run([upstream], routes: routes, clusterExtra: limits) { (proxy, log) async throws in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    group.addTask { try await Curl.fetch(proxy.url("/")).status }
                    #expect(await upstream.wait { $0.requestCount == 1 })
                    #expect(try await Curl.fetch(proxy.url("/short")).status == 504)
                    #expect(await log.waitForLines(1).first == "504 UT response_timeout 1")
                    #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_active") == 0)
                    for try await status in group { #expect(status == 200) }
                }
                #expect(upstream.requestCount == 1)
            }
        }
    }

    @Test("retry_budget 0% with min_retry_concurrency 1: a second concurrent retry overflows (UO, retry overflow)")
    func retryBudget() async throws {
        let upstream = try await FlakyUpstream.start { request in
            request.header("x-envoy-attempt-count") == "1" ? .respond(503) : .after(.milliseconds(1500), .respond(200))
        }
        do {
            let budget = Self.breakers("max_retries: 100, retry_budget: {budget_percent: {value: 0}, min_retry_concurrency: 1}")
            try await RetryRig.run([upstream], routes: RetryRig.retry("retry_on: 5xx"),
                                   virtualHostExtra: "include_request_attempt_count: true", clusterExtra: budget) {
                (proxy, log) async throws in
                try await withThrowingTaskGroup(of: Int.self) { group in
                    group.addTask { try await Curl.fetch(proxy.url("/")).status }
                    #expect(await upstream.wait { RetryLimitTests.retriesInFlight($0) == 1 })
                    let second = try await Curl.fetch(proxy.url("/"))
                    #expect(second.status == 503)
                    #expect(second.header("x-upstream-request") != nil, "the upstream's own 503")
                    #expect(await log.waitForLines(1).first == "503 UO via_upstream 1")
                    for try await status in group { #expect(status == 200) }
                }
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry_overflow") == 1)
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_retry") == 1)
            }
            await upstream.stop()
        } catch {
            await upstream.stop()
            throw error
        }
    }

    @Test("track_remaining: remaining_* gauges in /stats follow the requests in flight")
    func remainingGauges() async throws {
        try await Self.withSlowUpstream { upstream in
            let limits = Self.breakers("max_requests: 1, max_pending_requests: 7, track_remaining: true")
            try await RetryRig.run([upstream], routes: RetryRig.route(), clusterExtra: limits) { (proxy, _) async throws in
                let prefix = "cluster.flaky.circuit_breakers.default."
                #expect(try await proxy.stat(prefix + "remaining_rq") == 1)
                #expect(try await proxy.stat(prefix + "remaining_pending") == 7)
                #expect(try await proxy.stat(prefix + "remaining_cx") == 1024)
                #expect(try await proxy.stat(prefix + "remaining_retries") == 3)
                try await withThrowingTaskGroup(of: Int.self) { group in
                    group.addTask { try await Curl.fetch(proxy.url("/")).status }
                    #expect(await upstream.wait { $0.requestCount == 1 })
                    #expect(try await proxy.stat(prefix + "remaining_rq") == 0)
                    #expect(try await proxy.stat(prefix + "rq_open") == 1)
                    #expect(try await proxy.stat(prefix + "remaining_cx") == 1023)
                    for try await status in group { #expect(status == 200) }
                }
                #expect(try await proxy.stat(prefix + "remaining_rq") == 1)
                #expect(try await proxy.stat(prefix + "rq_open") == 0)
                #expect(try await proxy.stat(prefix + "remaining_cx") == 1023, "the keep-alive connection stays open")
            }
        }
    }

    @Test("a reload that raises max_requests from 1 to 2 applies it: the second concurrent request is served")
    func reloadAppliesLimits() async throws {
        try await Self.withSlowUpstream { upstream in
            let yaml = { (maxRequests: Int) in
                TestConfig.bootstrap(
                    routeConfig: "virtual_hosts:\n" + TestConfig.virtualHost("all", domains: ["*"], routes: RetryRig.route()),
                    extraClusters: TestConfig.cluster("flaky", endpoints: [.init(port: upstream.port)],
                                                      extra: Self.breakers("max_requests: \(maxRequests)")))
            }
            try await ProxyHarness.withConfigFile(yaml: { _ in yaml(1) }) { proxy, _, config in
                func pair() async throws -> [Int] {
                    try await withThrowingTaskGroup(of: Int.self) { group in
                        let before = upstream.requestCount
                        group.addTask { try await Curl.fetch(proxy.url("/")).status }
                        #expect(await upstream.wait { $0.requestCount == before + 1 })
                        let second = try await Curl.fetch(proxy.url("/")).status
                        var statuses = [second]
                        for try await status in group { statuses.append(status) }
                        return statuses
                    }
                }
                #expect(try await pair() == [503, 200])
                try config.write(yaml(2))
                #expect(try await proxy.reload().status == 200)
                #expect(try await pair() == [200, 200])
                #expect(try await proxy.stat("cluster.flaky.upstream_rq_pending_overflow") == 1)
            }
        }
    }
}

/// The pending-queue overflow run against the real Envoy 1.40 and Ferry on the same config.
@Suite("Circuit breakers: differential against Envoy")
struct CircuitBreakerDifferentialTests {
    struct Outcome: Equatable {
        var third: Int, body: String, overloaded: String?, logLine: String?, statuses: [Int]
        var stats: [String: String]
    }

    /// First request in flight, second waiting, third refused; returns what the client and the
    /// admin saw. `admin` is the admin port, `port` the listener's.
    static func run(port: Int, admin: Int, upstream: FlakyUpstream, log: AccessLogFile) async throws -> Outcome {
        func stats() async throws -> [String: String] {
            Admin.stats(try await Curl.fetch("http://127.0.0.1:\(admin)/stats").body)
        }
        let url = "http://127.0.0.1:\(port)/"
        return try await withThrowingTaskGroup(of: Int.self) { group in
            let before = upstream.requestCount
            group.addTask { try await Curl.fetch(url).status }
            #expect(await upstream.wait { $0.requestCount == before + 1 })
            group.addTask { try await Curl.fetch(url).status }
            for _ in 0..<100 {
                if try await stats()["cluster.flaky.upstream_rq_pending_active"] == "1" { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            let third = try await Curl.fetch(url)
            let line = await log.waitForLines(1).first
            var statuses: [Int] = []
            for try await status in group { statuses.append(status) }
            let names = ["upstream_rq_pending_overflow", "upstream_cx_overflow", "upstream_rq_pending_total", "upstream_rq_503",
                         "circuit_breakers.default.rq_pending_open", "circuit_breakers.default.cx_open"]
            let all = try await stats()
            var picked: [String: String] = [:]
            for name in names { picked[name] = all["cluster.flaky." + name] }
            return Outcome(third: third.status, body: third.body, overloaded: third.header("x-envoy-overloaded"),
                           logLine: line, statuses: statuses.sorted(), stats: picked)
        }
    }

    @Test("max_connections 1, max_pending_requests 1: Envoy and Ferry answer, log and count the overflow alike",
          .enabled(if: DrainListenersOptionsTests.envoyInstalled))
    func pendingOverflowMatchesEnvoy() async throws {
        try await CircuitBreakerTests.withSlowUpstream { upstream in
            let yaml = { (log: AccessLogFile) in
                TestConfig.bootstrap(
                    routeConfig: "virtual_hosts:\n" + TestConfig.virtualHost("all", domains: ["*"], routes: RetryRig.route()),
                    hcmExtra: log.yaml(format: RetryRig.logFormat),
                    extraClusters: TestConfig.cluster(
                        "flaky", endpoints: [.init(port: upstream.port)],
                        extra: CircuitBreakerTests.breakers("max_connections: 1, max_pending_requests: 1")))
            }
            let envoy = try await AccessLogFile.with { log in
                try await EnvoyProcess.with(yaml: yaml(log)) { envoy in
                    try await Self.run(port: envoy.port(of: "main"), admin: envoy.adminPort, upstream: upstream, log: log)
                }
            }
            let ferry = try await AccessLogFile.with { log in
                try await ProxyHarness.with(yaml: { _ in yaml(log) }) { proxy, _ in
                    try await Self.run(port: proxy.port(of: "main"), admin: proxy.adminPort, upstream: upstream, log: log)
                }
            }
            #expect(envoy == ferry)
            #expect(ferry.third == 503 && ferry.statuses == [200, 200], "envoy \(envoy)\nferry \(ferry)")
        }
    }
}
