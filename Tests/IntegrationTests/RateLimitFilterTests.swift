import FerryTestKit
import Foundation
import Testing

/// `ferry.filters.http.rate_limit` through the real proxy: each algorithm's accuracy under
/// concurrent load on two worker loops, keys and overrides, the concurrency limit, delayed
/// admission, the 429's headers, and shadow mode.
@Suite("Rate limit filter")
struct RateLimitFilterTests {
    static let type = "type.googleapis.com/ferry.filters.http.rate_limit.v1.RateLimit"

    static func filter(_ fields: String) -> String {
        """
        - name: ferry.filters.http.rate_limit
          typed_config:
            "@type": \(type)
            stat_prefix: api
            \(fields.replacingOccurrences(of: "\n", with: "\n    "))
        """
    }

    static let directRoutes = """
        - match: {prefix: "/"}
          direct_response: {status: 200, body: {inline_string: ok}}
        """

    /// One case of the accuracy test: the rule, and the admitted count it allows over `seconds`.
    struct AccuracyCase: Sendable, CustomTestStringConvertible {
        var name: String
        var fields: String
        /// The admitted count the rule allows for the run's requests over `seconds`, as a
        /// range (`requests` are each request's start and end on the proxy's clock).
        var expected: @Sendable (_ seconds: Double, _ requests: [(UInt64, UInt64)]) -> ClosedRange<Double>
        var testDescription: String { name }
    }

    // Rates of about 50 admissions/s: a loaded 2-core machine still offers several times that,
    // so the limiter, not the client, sets the count.
    static let accuracyCases: [AccuracyCase] = [
        AccuracyCase(name: "TOKEN_BUCKET 50/s burst 20", fields: "algorithm: TOKEN_BUCKET\ntoken_bucket: {max_tokens: 20, tokens_per_fill: 5, fill_interval: 0.1s}") {
            seconds, requests in replayed(requests, capacity: 20, rate: 50)...(20 + 50 * seconds)
        },
        // Windows are aligned to multiples of 50 ms of the proxy's clock: each window admits
        // min(5, requests decided in it). A request is decided between its start and end, so
        // the count lies between what the requests wholly inside each window allow and what
        // the requests touching each window allow. (A window in which a client stalled on a
        // loaded machine sent nothing admits nothing: that is the client, not the limiter.)
        AccuracyCase(name: "FIXED_WINDOW 5 per 50ms", fields: "algorithm: FIXED_WINDOW\nlimit: 5\nwindow: 0.05s") { _, requests in
            var inside: [UInt64: Int] = [:], touching: [UInt64: Int] = [:]
            for (start, end) in requests {
                let (first, last) = (start / 50_000_000, end / 50_000_000)
                if first == last { inside[first, default: 0] += 1 }
                for w in first...last { touching[w, default: 0] += 1 }
            }
            return Double(inside.values.reduce(0) { $0 + min($1, 5) })...Double(touching.values.reduce(0) { $0 + min($1, 5) })
        },
        // Never more than the limit in any window: a saturated sliding window admits `limit`
        // every window + granularity.
        AccuracyCase(name: "SLIDING_WINDOW 3 per 50ms (10ms steps)", fields: "algorithm: SLIDING_WINDOW\nlimit: 3\nwindow: 0.05s\ngranularity: 0.01s") {
            seconds, requests in (3 * (seconds / 0.06) - wasted(requests, rate: 3 / 0.06, held: 3))...(3 * (seconds / 0.06))
        },
        AccuracyCase(name: "LEAKY_BUCKET 50/s burst 5", fields: "algorithm: LEAKY_BUCKET\nleaky_bucket: {rate: 50, per: 1s, burst: 5}") {
            seconds, requests in replayed(requests, capacity: 6, rate: 50)...(6 + 50 * seconds)
        },
    ]

    static func wasted(_ requests: [(UInt64, UInt64)], rate: Double, held: Double) -> Double {
        KeepAliveLoad.Report.stalledAdmissions(requests, rate: rate, held: held)
    }

    /// The fewest admissions an ideal bucket makes of these requests (the lower bound for the
    /// bucket algorithms: it follows the load the clients really offered, stalls included).
    static func replayed(_ requests: [(UInt64, UInt64)], capacity: Double, rate: Double) -> Double {
        KeepAliveLoad.Report.tokenBucketAdmissions(requests, capacity: capacity, rate: rate).lowerBound
    }

    @Test("under load from 4 keep-alive clients on 2 worker loops for 10 s, admitted requests are within 1% of the budget",
          .serialized, arguments: accuracyCases)
    func accuracy(_ c: AccuracyCase) async throws {
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [], httpFilters: Self.filter(c.fields))
        }, concurrency: 2) { proxy, _ in
            let report = await KeepAliveLoad.run(port: proxy.port, clients: 4, duration: .seconds(10), maxRequests: 200_000)
            let admitted = report.outcomes.filter { $0.status == 200 }.count
            let limited = report.outcomes.filter { $0.status == 429 }.count
            #expect(admitted + limited == report.outcomes.count, "unexpected statuses")
            let first = try #require(report.outcomes.min { $0.started < $1.started }).started
            let last = try #require(report.outcomes.max { $0.ended < $1.ended }).ended
            let span = last - first
            let seconds = Double(span.components.seconds) + Double(span.components.attoseconds) / 1e18
            let expected = c.expected(seconds, report.outcomes.map { ($0.startedUptimeNanos, $0.endedUptimeNanos) })
            #expect(limited > admitted, "load did not saturate: \(admitted) admitted, \(limited) limited")
            let slack = expected.upperBound * 0.01
            #expect(Double(admitted) >= expected.lowerBound - slack && Double(admitted) <= expected.upperBound + slack,
                    "admitted \(admitted), expected \(expected) over \(seconds) s")
            #expect(try await proxy.stat("api.rate_limit.ok") == admitted)
            #expect(try await proxy.stat("api.rate_limit.enforced") == limited)
        }
    }

    @Test("the 429 carries Retry-After and RateLimit-Limit/-Remaining/-Reset, flag RL; headers_on_success adds them to passes")
    func rejectionHeaders() async throws {
        let fields = "algorithm: FIXED_WINDOW\nlimit: 2\nwindow: 60s\nheaders_on_success: true"
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [], httpFilters: Self.filter(fields))
        }) { proxy, _ in
            let first = try await Curl.fetch(proxy.url("/"))
            #expect(first.status == 200)
            #expect(first.header("ratelimit-limit") == "2" && first.header("ratelimit-remaining") == "1")
            _ = try await Curl.fetch(proxy.url("/"))
            let limited = try await Curl.fetch(proxy.url("/"))
            #expect(limited.status == 429)
            #expect(limited.body == "rate_limited")
            #expect(limited.header("ratelimit-limit") == "2" && limited.header("ratelimit-remaining") == "0")
            let retry = try #require(Int(limited.header("retry-after") ?? ""))
            let reset = try #require(Int(limited.header("ratelimit-reset") ?? ""))
            #expect((1...60).contains(retry) && (1...60).contains(reset))
        }
    }

    @Test("keys from a header with per-key overrides; a request without the header is not limited with skip_if_absent")
    func keysAndOverrides() async throws {
        let fields = """
            algorithm: FIXED_WINDOW
            limit: 1
            window: 60s
            descriptors: [{header: {name: x-tenant, skip_if_absent: true}}]
            overrides: [{key: gold, limit: 3}]
            """
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [], httpFilters: Self.filter(fields))
        }) { proxy, _ in
            func statuses(_ tenant: String?, _ n: Int) async throws -> [Int] {
                var result: [Int] = []
                for _ in 0..<n {
                    result.append(try await Curl.fetch(proxy.url("/"), headers: tenant.map { ["x-tenant": $0] } ?? [:]).status)
                }
                return result
            }
            #expect(try await statuses("a", 2) == [200, 429])
            #expect(try await statuses("b", 2) == [200, 429])
            #expect(try await statuses("gold", 4) == [200, 200, 200, 429])
            #expect(try await statuses(nil, 3) == [200, 200, 200])
            let live = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/governance").body
            #expect(live.contains("\"tracked_keys\":3"))
        }
    }

    @Test("CONCURRENCY admits the configured number in flight; the rest get 429 until one finishes")
    func concurrency() async throws {
        let slow = try await EchoServer.start(name: "slow", delay: .milliseconds(800))
        try await withCleanup {
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: slow}", clusters: [("slow", [slow.port])],
                                     httpFilters: Self.filter("algorithm: CONCURRENCY\nlimit: 2"))
            }) { proxy, _ in
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<4 { group.addTask { try await Curl.fetch(proxy.url("/")).status } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                #expect(statuses.sorted() == [200, 200, 429, 429])
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            }
        } cleanup: {
            await slow.stop()
        }
    }

    @Test("LEAKY_BUCKET with delayed_admission makes excess requests wait their turn: 10 at once leave at the rate")
    func delayedAdmission() async throws {
        let fields = "algorithm: LEAKY_BUCKET\nleaky_bucket: {rate: 10, per: 1s, burst: 20, delayed_admission: true}"
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [], httpFilters: Self.filter(fields))
        }) { proxy, _ in
            let start = ContinuousClock.now
            let finished = try await withThrowingTaskGroup(of: (Int, Duration).self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        let status = try await Curl.fetch(proxy.url("/")).status
                        return (status, ContinuousClock.now - start)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(finished.allSatisfy { $0.0 == 200 })
            // Nine intervals of 100 ms separate the first departure from the last.
            let last = try #require(finished.map(\.1).max())
            #expect(last >= .milliseconds(850), "the last request left after \(last)")
            #expect(try await proxy.stat("api.rate_limit.delayed") ?? 0 >= 8)
        }
    }

    @Test("shadow mode: filter_enforced 0% counts the would-be rejections and lets everything through")
    func shadow() async throws {
        let fields = "algorithm: FIXED_WINDOW\nlimit: 1\nwindow: 60s\nfilter_enforced: {default_value: {numerator: 0}}"
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: Self.directRoutes, clusters: [], httpFilters: Self.filter(fields))
        }) { proxy, _ in
            var statuses: [Int] = []
            for _ in 0..<3 { statuses.append(try await Curl.fetch(proxy.url("/")).status) }
            #expect(statuses == [200, 200, 200])
            #expect(try await proxy.stat("api.rate_limit.rate_limited") == 2)
            #expect(try await proxy.stat("api.rate_limit.enforced") == 0)
        }
    }
}
