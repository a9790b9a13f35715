@testable import FerryConfig
import Testing

/// `ferry.filters.http.rate_limit`: each algorithm's fields, defaults, and located refusals.
@Suite("Rate limit filter config")
struct RateLimitConfigTests {
    static func yaml(_ fields: String) -> String {
        Fixture.bootstrap(httpFilters: """
            - name: ferry.filters.http.rate_limit
              typed_config:
                "@type": type.googleapis.com/ferry.filters.http.rate_limit.v1.RateLimit
                stat_prefix: api
                \(fields.replacingOccurrences(of: "\n", with: "\n    "))
            """ + "\n" + Fixture.router)
    }

    static func config(_ fields: String) -> RateLimitConfig? {
        guard case .rateLimit(let c)? = Fixture.load(yaml(fields))?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind else { return nil }
        return c
    }

    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"

    @Test("a sliding window reads its limit, window and granularity (default a tenth), descriptors and overrides")
    func slidingWindow() throws {
        let c = try #require(Self.config("""
            algorithm: SLIDING_WINDOW
            limit: 100
            window: 1s
            descriptors: [{remote_address: {}}, {header: {name: X-Api-Key, skip_if_absent: true}}]
            overrides: [{key: "127.0.0.1|gold", limit: 1000}]
            max_keys: 500
            """))
        #expect(c.algorithm == .slidingWindow && c.budget.limit == 100 && c.budget.window == .seconds(1))
        #expect(c.budget.granularity == .milliseconds(100))
        #expect(c.descriptors == [.remoteAddress, .header(name: "x-api-key", skipIfAbsent: true)])
        #expect(c.overrides["127.0.0.1|gold"]?.limit == 1000 && c.overrides["127.0.0.1|gold"]?.window == .seconds(1))
        #expect(c.maxKeys == 500 && c.status == 429 && c.filterEnforced == .always)
    }

    @Test("a granularity that does not divide the window, another algorithm's field and a missing budget are located errors")
    func errors() {
        Fixture.expectOneError(Self.yaml("algorithm: SLIDING_WINDOW\nlimit: 5\nwindow: 1s\ngranularity: 0.3s"), at: "0.3s",
                               path: "\(Self.filterPath).granularity", message: "whole number of granularity steps")
        Fixture.expectOneError(Self.yaml("algorithm: FIXED_WINDOW\nlimit: 5\nwindow: 1s\ntoken_bucket: {max_tokens: 1, fill_interval: 1s}"),
                               at: "token_bucket", path: "\(Self.filterPath).token_bucket", message: "does not apply to algorithm FIXED_WINDOW")
        Fixture.expectOneError(Self.yaml("algorithm: TOKEN_BUCKET"), at: "\"@type\": type.googleapis.com/ferry",
                               path: "\(Self.filterPath).token_bucket", message: "TOKEN_BUCKET needs token_bucket")
        Fixture.expectOneError(Self.yaml("algorithm: TOKEN_BUCKETS"), at: "TOKEN_BUCKETS", path: "\(Self.filterPath).algorithm",
                               message: "TOKEN_BUCKETS")
    }
}
