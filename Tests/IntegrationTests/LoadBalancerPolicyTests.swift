import FerryTestKit
import Testing

/// The other `lb_policy` values through the real proxy: RANDOM, LEAST_REQUEST, RING_HASH and
/// MAGLEV with the route's `hash_policy` (header, query parameter, source IP, cookie). The
/// algorithms' statistics are tested in FerryPolicyTests; these tests show the proxy feeds them
/// the right inputs (weights, active requests, request hashes).
@Suite("Load balancing policies")
struct LoadBalancerPolicyTests {
    /// A proxy whose catch-all route (with `routeExtra`) goes to cluster `pool` over the echo
    /// upstreams `names` (with `weights`), balanced by `policy`.
    static func withPool(_ names: [String], weights: [Int]? = nil, policy: String, routeExtra: String = "",
                         _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(upstreams: names, yaml: { ports in
            let endpoints = ports.indices.map { TestConfig.Endpoint(port: ports[$0], weight: weights?[$0]) }
            return TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "pool", extra: routeExtra), clusters: [],
                extraClusters: TestConfig.cluster("pool", endpoints: endpoints, extra: policy))
        }) { proxy, _ in try await body(proxy) }
    }

    static func count(_ names: [String], _ name: String) -> Int { names.filter { $0 == name }.count }

    @Test("RANDOM with weights 3:1: the heavy endpoint gets 300 of 400 requests within 7 standard deviations (±61)")
    func weightedRandom() async throws {
        try await Self.withPool(["heavy", "light"], weights: [3, 1], policy: "lb_policy: RANDOM") { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 400).map(\.value)
            #expect(names.count == 400)
            #expect(Self.count(names, "heavy") + Self.count(names, "light") == 400)
            // Binomial(400, 0.75): standard deviation 8.7.
            #expect(abs(Self.count(names, "heavy") - 300) <= 61, "heavy got \(Self.count(names, "heavy"))")
            // A coin, not a schedule: the light endpoint is not picked on a fixed rotation.
            let rotation = (0..<(names.count - 4)).allSatisfy { names[$0] == names[$0 + 4] }
            #expect(!rotation)
        }
    }

    @Test("LEAST_REQUEST with choice_count 5: an endpoint answering after 500 ms gets far fewer of 200 concurrent requests than round robin gives it")
    func leastRequestAvoidsBusyHost() async throws {
        let slow = try await FlakyUpstream.start(name: "slow") { _ in .after(.milliseconds(500), .respond(200, body: "slow")) }
        try await withCleanup {
            try await ProxyHarness.with(upstreams: ["fast"], yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                    extraClusters: TestConfig.cluster(
                        "pool", endpoints: [.init(port: ports[0]), .init(port: slow.port)], extra: "lb_policy: LEAST_REQUEST\nleast_request_lb_config: {choice_count: 5}"))
            }) { proxy, _ in
                // Eight requests in flight at a time. Least request balances active requests:
                // the slow endpoint holds each of its requests for 500 ms, so it only gets a new
                // one while it holds fewer than the fast endpoint (a few per 500 ms), plus the
                // picks whose five choices (drawn with replacement, as Envoy) all land on it.
                let result = try await Curl.perform(
                    ["--parallel", "--parallel-max", "8", "-w", "%{http_code} %header{x-echo-name}\\n", "-o", "/dev/null",
                     proxy.url("/") + "?n=[1-200]"], timeout: 60)
                let lines = result.body.split(separator: "\n").map(String.init)
                #expect(lines.count == 200)
                #expect(lines.allSatisfy { $0.hasPrefix("200") }, "\(lines.filter { !$0.hasPrefix("200") }.prefix(3))")
                let fast = lines.filter { $0 == "200 fast" }.count
                // Round robin sends exactly 100 to each; least request sends most to the fast one
                // (how many depends on how fast this machine serves the fast endpoint).
                #expect(fast >= 130, "the fast endpoint got \(fast) of 200, the slow one \(slow.requestCount)")
                #expect(slow.requestCount == 200 - fast)
            }
        } cleanup: {
            await slow.stop()
        }
    }

    @Test("RING_HASH on a header: every user's requests land on one endpoint, and users spread over all three")
    func ringHashHeader() async throws {
        let hash = "hash_policy: [{header: {header_name: x-user}}]"
        try await Self.withPool(["a", "b", "c"], policy: "lb_policy: RING_HASH", routeExtra: hash) { proxy in
            var homes: [String: String] = [:]
            for user in 0..<24 {
                let names = try await Support.sequential(proxy.url("/"), count: 6, extra: ["-H", "x-user: user-\(user)"]).map(\.value)
                #expect(Set(names).count == 1, "user-\(user) moved between endpoints: \(names)")
                homes["user-\(user)"] = names.first
            }
            let used = Set(homes.values)
            #expect(used == ["a", "b", "c"], "24 users used only \(used)")
            // The same user again later: still at home.
            let again = try await Support.sequential(proxy.url("/"), count: 3, extra: ["-H", "x-user: user-7"]).map(\.value)
            #expect(Set(again) == [homes["user-7"] ?? "?"])
        }
    }

    @Test("MAGLEV on a query parameter: the same value always goes to the same endpoint; values spread")
    func maglevQueryParameter() async throws {
        let hash = "hash_policy: [{query_parameter: {name: n}}]"
        try await Self.withPool(["a", "b", "c"], policy: "lb_policy: MAGLEV", routeExtra: hash) { proxy in
            // Support.sequential numbers its requests ?n=1...?n=60: two passes see the same values.
            let first = try await Support.sequential(proxy.url("/"), count: 60).map(\.value)
            let second = try await Support.sequential(proxy.url("/"), count: 60).map(\.value)
            #expect(first.count == 60)
            #expect(first == second)
            #expect(Set(first) == ["a", "b", "c"])
        }
    }

    @Test("MAGLEV on connection_properties source_ip: one client always reaches one endpoint")
    func maglevSourceIP() async throws {
        let hash = "hash_policy: [{connection_properties: {source_ip: true}}]"
        try await Self.withPool(["a", "b", "c"], policy: "lb_policy: MAGLEV", routeExtra: hash) { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 40).map(\.value)
            #expect(names.count == 40)
            #expect(Set(names).count == 1, "\(Set(names))")
        }
    }

    @Test("without a hash (no hash_policy input), RING_HASH picks at random as Envoy does")
    func ringHashWithoutKeySpreads() async throws {
        let hash = "hash_policy: [{header: {header_name: x-user}}]"
        try await Self.withPool(["a", "b", "c"], policy: "lb_policy: RING_HASH", routeExtra: hash) { proxy in
            let names = try await Support.sequential(proxy.url("/"), count: 90).map(\.value)
            #expect(Set(names) == ["a", "b", "c"])
        }
    }

    @Test("a cookie hash policy with a ttl sets the cookie when it is absent; requests carrying it stay on one endpoint")
    func stickyCookie() async throws {
        let hash = "hash_policy: [{cookie: {name: sticky, ttl: 3600s, path: /}}]"
        try await Self.withPool(["a", "b", "c"], policy: "lb_policy: RING_HASH", routeExtra: hash) { proxy in
            let first = try await Curl.fetch(proxy.url("/"))
            #expect(first.status == 200)
            let setCookie = try #require(first.header("set-cookie"), "no set-cookie on the first response")
            let match = try #require(setCookie.firstMatch(of: /^sticky="([0-9a-f]{16})"; Max-Age=3600; Path=\/; HttpOnly$/),
                                     "set-cookie: \(setCookie)")
            let value = String(match.1)
            let home = first.header("x-echo-name")
            let names = try await Support.sequential(proxy.url("/"), count: 12, extra: ["-H", "cookie: other=1; sticky=\"\(value)\""])
                .map(\.value)
            #expect(Set(names) == [home ?? "?"], "\(names), first went to \(home ?? "?")")
            let again = try await Curl.fetch(proxy.url("/"), headers: ["cookie": "sticky=\"\(value)\""])
            #expect(again.header("set-cookie") == nil, "the cookie was set again although the request carried it")
        }
    }

    @Test("ferry peak EWMA (load_balancing_policy): an endpoint 100 ms slower than two others gets almost nothing")
    func peakEWMAAvoidsSlowHost() async throws {
        let slow = try await EchoServer.start(name: "slow", delay: .milliseconds(100))
        try await withCleanup {
            try await ProxyHarness.with(upstreams: ["a", "b"], yaml: { ports in
                let policy = """
                    load_balancing_policy:
                      policies:
                      - typed_extension_config:
                          name: ferry.load_balancing_policies.peak_ewma
                          typed_config: {"@type": type.googleapis.com/ferry.load_balancing_policies.peak_ewma.v1.PeakEwma, decay_time: 10s}
                    """
                return TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
                    extraClusters: TestConfig.cluster(
                        "pool", endpoints: [.init(port: ports[0]), .init(port: ports[1]), .init(port: slow.port)], extra: policy))
            }) { proxy, _ in
                let result = try await Curl.perform(
                    ["--parallel", "--parallel-max", "4", "-w", "%{http_code} %header{x-echo-name}\\n", "-o", "/dev/null",
                     proxy.url("/") + "?n=[1-200]"], timeout: 60)
                let names = result.body.split(separator: "\n").map { String($0.dropFirst(4)) }
                #expect(names.count == 200)
                // Two different hosts per pick always include a fast one; once the slow one has
                // answered (its estimate jumps to 100 ms) it loses the comparison unless the fast
                // one looks as costly (latency × (pending + 1)), which a loaded machine can make
                // happen now and then. Round robin would give it about 67.
                let slowCount = names.filter { $0 == "slow" }.count
                #expect(slowCount <= 30, "the slow endpoint got \(slowCount) of 200")
                #expect(names.filter { $0 == "a" }.count > 50 && names.filter { $0 == "b" }.count > 50)
            }
        } cleanup: {
            await slow.stop()
        }
    }
}
