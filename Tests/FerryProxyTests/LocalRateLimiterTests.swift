import FerryConfig
import FerryTelemetry
import Testing

@testable import FerryProxy

/// `LocalRateLimiter`: which buckets a request's descriptors spend, in which order, which one
/// rejects and which one the x-ratelimit headers report, as Envoy 1.40's
/// `LocalRateLimiterImpl::requestAllowed`. Time is passed in; nothing here sleeps.
@Suite("Local rate limiter descriptor matching")
struct LocalRateLimiterTests {
    /// One token per `seconds` (so fill rates differ by `seconds`), `max` of them.
    static func bucket(_ max: UInt32, every seconds: Int64) -> LocalRateLimitConfig.TokenBucket {
        .init(maxTokens: max, tokensPerFill: 1, fillInterval: .seconds(seconds))
    }

    static func descriptor(_ entries: (String, String)...) -> RateLimitDescriptor {
        RateLimitDescriptor(entries.map { .init($0.0, $0.1) })
    }

    static func limiter(default defaultBucket: LocalRateLimitConfig.TokenBucket? = bucket(100, every: 1),
                        _ descriptors: [(RateLimitDescriptor, LocalRateLimitConfig.TokenBucket)],
                        alwaysConsumeDefault: Bool = true, maxDynamic: UInt32 = 20) -> LocalRateLimiter {
        var config = LocalRateLimitConfig(statPrefix: "t")
        config.tokenBucket = defaultBucket
        config.descriptors = descriptors.map { .init($0.0, tokenBucket: $0.1) }
        config.alwaysConsumeDefaultTokenBucket = alwaysConsumeDefault
        config.maxDynamicDescriptors = maxDynamic
        return LocalRateLimiter(config: config, now: 0)
    }

    /// Outcomes of `count` decisions at time 0: true when allowed.
    static func run(_ limiter: LocalRateLimiter, _ descriptors: [RateLimitDescriptor], count: Int) -> [Bool] {
        (0..<count).map { _ in limiter.decide(descriptors, now: 0).allowed }
    }

    static let gold = descriptor(("client", "gold"))

    @Test("a matched descriptor spends its bucket and the default one; the headers report the descriptor's")
    func exactAndDefault() {
        let l = Self.limiter(default: Self.bucket(3, every: 60), [(Self.gold, Self.bucket(2, every: 60))])
        let first = l.decide([Self.gold], now: 0)
        #expect(first.allowed && first.reported === l.exact[Self.gold])
        #expect(Self.run(l, [Self.gold], count: 2) == [true, false])
        // The descriptor rejected the third request before the default bucket was spent: one token left.
        let plain = l.decide([], now: 0)
        #expect(plain.allowed && plain.reported === l.defaultBucket)
        let empty = l.decide([], now: 0)
        #expect(!empty.allowed && empty.reported === l.defaultBucket)
    }

    @Test("with the default bucket empty, a matched descriptor still spends its token and the reply reports the default bucket")
    func defaultRejectsAfterDescriptor() throws {
        let l = Self.limiter(default: Self.bucket(1, every: 60), [(Self.gold, Self.bucket(4, every: 60))])
        #expect(Self.run(l, [Self.gold], count: 3) == [true, false, false])
        let bucket = try #require(l.exact[Self.gold])
        #expect(bucket.available(now: 0) < 1.01 && bucket.available(now: 0) > 0.99, "descriptor tokens: \(bucket.available(now: 0))")
        #expect(l.decide([Self.gold], now: 0).reported === l.defaultBucket)
        // Its last token gone, the descriptor rejects first and is the one reported.
        #expect(l.decide([Self.gold], now: 0).reported === bucket)
    }

    @Test("always_consume_default_token_bucket false: a matched request leaves the default bucket alone")
    func notConsumingDefault() {
        let l = Self.limiter(default: Self.bucket(2, every: 60), [(Self.gold, Self.bucket(3, every: 60))], alwaysConsumeDefault: false)
        #expect(Self.run(l, [Self.gold], count: 4) == [true, true, true, false])
        #expect(Self.run(l, [], count: 3) == [true, true, false])
    }

    @Test("several matches are spent slowest-refilling first; the first without a token rejects and the rest are not spent")
    func slowestFirst() throws {
        let fast = Self.descriptor(("k", "fast")), slow = Self.descriptor(("k", "slow"))
        let l = Self.limiter([(fast, Self.bucket(5, every: 1)), (slow, Self.bucket(2, every: 60))])
        let decision = l.decide([fast, slow], now: 0)
        #expect(decision.allowed && decision.reported === l.exact[slow])
        #expect(Self.run(l, [fast, slow], count: 2) == [true, false])
        let fastBucket = try #require(l.exact[fast])
        #expect(fastBucket.available(now: 0) >= 3, "the rejected request spent the faster bucket too")
        #expect(l.decide([fast, slow], now: 0).reported === l.exact[slow])
    }

    @Test("equal fill rates keep the request's order for the report; one descriptor produced twice is spent twice")
    func tiesAndRepeats() {
        let a = Self.descriptor(("k", "a")), b = Self.descriptor(("k", "b"))
        let l = Self.limiter([(a, Self.bucket(4, every: 10)), (b, Self.bucket(9, every: 10))])
        #expect(l.decide([b, a], now: 0).reported === l.exact[b])
        #expect(l.decide([a, b], now: 0).reported === l.exact[a])
        #expect(Self.run(l, [a, a], count: 2) == [true, false])
    }

    @Test("a wildcard gives each value its own bucket; an exact descriptor wins over a wildcard; keys and their order must match")
    func wildcard() {
        let any = Self.descriptor(("client", "")), two = Self.descriptor(("client", ""), ("path", "/a"))
        let l = Self.limiter([(any, Self.bucket(1, every: 60)), (Self.gold, Self.bucket(3, every: 60)), (two, Self.bucket(2, every: 60))])
        #expect(Self.run(l, [Self.descriptor(("client", "x"))], count: 2) == [true, false])
        #expect(Self.run(l, [Self.descriptor(("client", "y"))], count: 2) == [true, false])
        #expect(Self.run(l, [Self.gold], count: 4) == [true, true, true, false])
        #expect(Self.run(l, [Self.descriptor(("client", "x"), ("path", "/a"))], count: 3) == [true, true, false])
        #expect(l.bucket(for: Self.descriptor(("client", "x"), ("path", "/b")), now: 0) == nil)
        #expect(l.bucket(for: Self.descriptor(("path", "/a"), ("client", "x")), now: 0) == nil)
        #expect(l.bucket(for: Self.descriptor(("user", "x")), now: 0) == nil)
    }

    @Test("a wildcard keeps max_dynamic_descriptors buckets; the least recently used is dropped and comes back full")
    func dynamicBound() throws {
        let l = Self.limiter([(Self.descriptor(("ip", "")), Self.bucket(1, every: 60))], maxDynamic: 2)
        let ip = { (v: String) in [Self.descriptor(("ip", v))] }
        #expect(Self.run(l, ip("1"), count: 2) == [true, false])
        #expect(Self.run(l, ip("2"), count: 2) == [true, false])
        #expect(!l.decide(ip("1"), now: 0).allowed)  // 1 is now the most recently used
        #expect(Self.run(l, ip("3"), count: 1) == [true])  // drops 2
        let wildcard = try #require(l.wildcards.first)
        #expect(wildcard.count == 2)
        #expect(Self.run(l, ip("2"), count: 2) == [true, false])  // a fresh bucket; drops 1
        #expect(Self.run(l, ip("3"), count: 1) == [false])
        #expect(Self.run(l, ip("1"), count: 1) == [true])
    }

    @Test("without a default bucket, an unmatched request passes unreported; buckets refill with time")
    func noDefaultAndRefill() {
        let l = Self.limiter(default: nil, [(Self.gold, Self.bucket(1, every: 2))])
        let plain = l.decide([Self.descriptor(("client", "silver"))], now: 0)
        #expect(plain.allowed && plain.reported == nil)
        #expect(Self.run(l, [Self.gold], count: 2) == [true, false])
        #expect(l.decide([Self.gold], now: 1_999_000_000).allowed == false)
        #expect(l.decide([Self.gold], now: 2_000_000_000).allowed)
        let values = l.exact[Self.gold]?.headerValues(now: 2_500_000_000)
        #expect(values?.remaining == 0 && values?.resetSeconds == 2)
    }

    @Test("a route's LocalRateLimit without token_bucket is refused, as Envoy refuses it")
    func perRouteNeedsBucket() throws {
        let yaml = TestYAML.bootstrap(routeFilterConfig: """
            {"@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, stat_prefix: r}
            """)
        let loaded = try ConfigLoader.load(yaml: yaml, file: "t.yaml").get()
        guard case .failure(let errors) = GenerationCompiler.compile(loaded, id: 1, store: StatsStore()) else {
            Issue.record("compiled")
            return
        }
        let error = try #require(errors.diagnostics.filter { $0.severity == .error }.only)
        #expect(error.message.contains("needs a token_bucket") && error.path.hasSuffix("envoy.filters.http.local_ratelimit.token_bucket"))
        #expect(error.location.line == 12 && error.fix?.isEmpty == false)
    }
}

/// A bootstrap with one local_ratelimit filter and one route carrying `routeFilterConfig`.
enum TestYAML {
    static func bootstrap(routeFilterConfig: String) -> String {
        """
        static_resources:
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: 0}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: t
                  route_config:
                    virtual_hosts: [{name: all, domains: ["*"], routes: [{match: {prefix: "/"}, direct_response: {status: 200}, typed_per_filter_config: {envoy.filters.http.local_ratelimit: \(routeFilterConfig)}}]}]
                  http_filters:
                  - name: envoy.filters.http.local_ratelimit
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, stat_prefix: l}
                  - name: envoy.filters.http.router
                    typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router}
        """
    }
}

extension Array {
    fileprivate var only: Element? { count == 1 ? first : nil }
}
