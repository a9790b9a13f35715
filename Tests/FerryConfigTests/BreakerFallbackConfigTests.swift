@testable import FerryConfig
import Testing

/// `ferry.filters.http.circuit_breaker` and `ferry.filters.http.fallback` configs: defaults, the
/// values read, and every refusal located with a fix.
@Suite("Circuit breaker and fallback filter configs")
struct BreakerFallbackConfigTests {
    static let filters = "\(Fixture.hcm).http_filters[0].typed_config"

    static func breaker(_ fields: String) -> String {
        Fixture.bootstrap(httpFilters: """
            - name: ferry.filters.http.circuit_breaker
              typed_config:
                "@type": type.googleapis.com/ferry.filters.http.circuit_breaker.v1.CircuitBreaker
                stat_prefix: api
            \(fields.isEmpty ? "" : "    " + fields.replacingOccurrences(of: "\n", with: "\n    "))
            """ + "\n" + Fixture.router)
    }

    static func fallback(_ fields: String) -> String {
        Fixture.bootstrap(httpFilters: """
            - name: ferry.filters.http.fallback
              typed_config:
                "@type": type.googleapis.com/ferry.filters.http.fallback.v1.Fallback
                stat_prefix: api
            \(fields.isEmpty ? "" : "    " + fields.replacingOccurrences(of: "\n", with: "\n    "))
            """ + "\n" + Fixture.router)
    }

    static func filterKind(_ yaml: String) -> HttpFilter.Kind? {
        Fixture.load(yaml)?.listeners.first?.httpConnectionManager?.httpFilters.first?.kind
    }

    @Test("a breaker with only stat_prefix gets resilience4j's defaults, enabled and enforced at 100%, failing on 5xx and local-origin")
    func breakerDefaults() throws {
        guard case .circuitBreaker(let c)? = Self.filterKind(Self.breaker("")) else { Issue.record("not decoded"); return }
        #expect(c.scope == .route && c.windowType == .countBased && c.windowSize == 100)
        #expect(c.failureRateThreshold == 50 && c.slowCallRateThreshold == 100 && c.failureCountThreshold == nil)
        #expect(c.minimumNumberOfCalls == 100 && c.permittedCallsInHalfOpenState == 10)
        #expect(c.waitDurationInOpenState == .seconds(60) && c.slowCallDurationThreshold == .seconds(60))
        #expect(c.maxWaitDurationInHalfOpenState == .zero && c.status == 503)
        #expect(c.failureOn == [.fiveXX, .localOrigin] && c.failureStatusCodes.isEmpty)
        #expect(c.filterEnabled == .always && c.filterEnforced == .always)
    }

    @Test("every breaker field is read")
    func breakerValues() throws {
        let yaml = Self.breaker("""
            scope: CLUSTER
            sliding_window: {type: TIME_BASED, size: 10}
            failure_rate_threshold: 25.5
            failure_count_threshold: 3
            slow_call_duration_threshold: 0.5s
            slow_call_rate_threshold: 80
            minimum_number_of_calls: 4
            wait_duration_in_open_state: 2s
            permitted_calls_in_half_open_state: 2
            max_wait_duration_in_half_open_state: 5s
            failure_on: [gateway-error, timeout]
            failure_status_codes: [429, 500]
            status: {code: 502}
            filter_enforced: {default_value: {numerator: 0}}
            """)
        guard case .circuitBreaker(let c)? = Self.filterKind(yaml) else { Issue.record("not decoded"); return }
        #expect(c.scope == .cluster && c.windowType == .timeBased && c.windowSize == 10)
        #expect(c.failureRateThreshold == 25.5 && c.failureCountThreshold == 3 && c.slowCallRateThreshold == 80)
        #expect(c.slowCallDurationThreshold == .milliseconds(500) && c.minimumNumberOfCalls == 4)
        #expect(c.waitDurationInOpenState == .seconds(2) && c.permittedCallsInHalfOpenState == 2)
        #expect(c.maxWaitDurationInHalfOpenState == .seconds(5) && c.status == 502)
        #expect(c.failureOn == [.gatewayError, .timeout] && c.failureStatusCodes == [429, 500])
        #expect(c.filterEnforced.defaultValue.numerator == 0)
    }

    @Test("a misspelt breaker field is an unknown field with a suggestion")
    func breakerUnknownField() {
        Fixture.expectOneError(Self.breaker("failure_rate_treshold: 50"), at: "failure_rate_treshold",
                               path: "\(Self.filters).failure_rate_treshold", message: "did you mean \"failure_rate_threshold\"")
    }

    @Test("an unknown failure class is refused with a suggestion")
    func breakerBadFailureClass() {
        Fixture.expectOneError(Self.breaker("failure_on: [5xx, conect-failure]"), at: "conect-failure",
                               path: "\(Self.filters).failure_on", message: "did you mean connect-failure?")
    }

    @Test("thresholds out of range are refused where they are written")
    func breakerRanges() {
        Fixture.expectOneError(Self.breaker("failure_rate_threshold: 0"), at: "0", after: "failure_rate_threshold",
                               path: "\(Self.filters).failure_rate_threshold", message: "out of range")
        Fixture.expectOneError(Self.breaker("sliding_window: {type: COUNT_BASED, size: 0}"), at: "0", after: "size",
                               path: "\(Self.filters).sliding_window.size", message: "out of range")
        Fixture.expectOneError(Self.breaker("wait_duration_in_open_state: 0s"), at: "0s",
                               path: "\(Self.filters).wait_duration_in_open_state", message: "greater than 0s")
        Fixture.expectOneError(Self.breaker("failure_status_codes: [700]"), at: "700",
                               path: "\(Self.filters).failure_status_codes[0]", message: "HTTP status code")
    }

    @Test("a fallback reads its triggers and actions in order")
    func fallbackValues() throws {
        let yaml = Self.fallback("""
            on: [circuit-open, 5xx, timeout]
            actions:
            - stale: {key: {header: X-User}, max_entries: 10, max_body_bytes: 100, max_age: 30s}
            - backup_cluster: backend
            - static: {status: 503, body: later, headers: [{key: Content-Type, value: text/plain}]}
            """)
        guard case .fallback(let c)? = Self.filterKind(yaml) else { Issue.record("not decoded"); return }
        #expect(c.on == [.circuitOpen, .fiveXX, .timeout])
        #expect(c.actions.count == 3)
        guard case .stale(let stale) = c.actions[0], case .backupCluster(let cluster, _, _) = c.actions[1],
              case .staticReply(let reply) = c.actions[2] else { Issue.record("actions out of order"); return }
        #expect(stale.key == .header("x-user") && stale.maxEntries == 10 && stale.maxBodyBytes == 100 && stale.maxAge == .seconds(30))
        #expect(cluster == "backend")
        #expect(reply.status == 503 && reply.body == "later" && reply.headers.map(\.name) == ["content-type"])
    }

    @Test("stale defaults: path and query, 1000 entries, 64 KiB, 300s")
    func staleDefaults() throws {
        guard case .fallback(let c)? = Self.filterKind(Self.fallback("on: [5xx]\nactions: [{stale: {}}]")),
              case .stale(let stale)? = c.actions.first else { Issue.record("not decoded"); return }
        #expect(stale == FallbackConfig.Stale())
        #expect(stale.key == .pathAndQuery && stale.maxEntries == 1000 && stale.maxBodyBytes == 65_536 && stale.maxAge == .seconds(300))
    }

    @Test("a fallback without triggers or actions is refused with a fix")
    func fallbackRequired() {
        Fixture.expectOneError(Self.fallback("actions: [{stale: {}}]"), at: "\"@type\"", after: "ferry.filters.http.fallback", path: "\(Self.filters).on",
                               message: "required field is missing")
        Fixture.expectOneError(Self.fallback("on: [5xx]"), at: "\"@type\"", after: "ferry.filters.http.fallback", path: "\(Self.filters).actions",
                               message: "required field is missing")
    }

    @Test("an unknown trigger, an action with two kinds and a misspelt action are refused where written")
    func fallbackBadActions() {
        Fixture.expectOneError(Self.fallback("on: [5xx, time-out]\nactions: [{stale: {}}]"), at: "time-out",
                               path: "\(Self.filters).on", message: "did you mean timeout?")
        Fixture.expectOneError(Self.fallback("on: [5xx]\nactions: [{stale: {}, backup_cluster: b}]"), at: "backup_cluster",
                               path: "\(Self.filters).actions[0].backup_cluster", message: "only one of")
        // (Also "fallback action is missing", at the same item.)
        Fixture.expectError(Self.fallback("on: [5xx]\nactions: [{statc: {}}]"), at: "statc",
                               path: "\(Self.filters).actions[0].statc", message: "did you mean \"static\"")
        Fixture.expectOneError(Self.fallback("on: [5xx]\nactions: [{stale: {key: {path: false}}}]"), at: "false",
                               path: "\(Self.filters).actions[0].stale.key.path", message: "selects no key")
        Fixture.expectOneError(Self.fallback("on: [5xx]\nactions: [{stale: {}}, {static: {status: 503}}, {stale: {max_age: 5s}}]"),
                               at: "{stale: {max_age", path: "\(Self.filters).actions[2]", message: "at most one stale action")
    }

    @Test("a route's typed_per_filter_config may carry a CircuitBreaker")
    func perRoute() throws {
        let routes = """
            - match: {prefix: "/"}
              route: {cluster: backend}
              typed_per_filter_config:
                ferry.filters.http.circuit_breaker:
                  "@type": type.googleapis.com/ferry.filters.http.circuit_breaker.v1.CircuitBreaker
                  stat_prefix: own
                  minimum_number_of_calls: 2
            """
        let yaml = Fixture.bootstrap(routes: routes, httpFilters: """
            - name: ferry.filters.http.circuit_breaker
              typed_config: {"@type": type.googleapis.com/ferry.filters.http.circuit_breaker.v1.CircuitBreaker, stat_prefix: api}
            """ + "\n" + Fixture.router)
        let route = try #require(Fixture.firstRoute(Fixture.load(yaml)))
        guard case .circuitBreaker(let c)? = route.typedPerFilterConfig["ferry.filters.http.circuit_breaker"]?.kind else {
            Issue.record("not decoded"); return
        }
        #expect(c.statPrefix == "own" && c.minimumNumberOfCalls == 2)
    }
}
