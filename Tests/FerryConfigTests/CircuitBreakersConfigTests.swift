@testable import FerryConfig
import Testing

/// `circuit_breakers` of a cluster: Envoy's defaults, the values read, and the fields Ferry
/// refuses with a location, a path and a fix.
@Suite("Circuit breaker settings")
struct CircuitBreakersConfigTests {
    static let path = "static_resources.clusters[0].circuit_breakers"

    static func yaml(_ breakers: String) -> String {
        Fixture.bootstrap(clusters: Fixture.backendCluster + "\n  circuit_breakers: " + breakers)
    }

    @Test("without circuit_breakers, DEFAULT and HIGH get Envoy's defaults: 1024, 1024, 1024, 3, no budget")
    func defaults() throws {
        let cluster = try #require(Fixture.load(Fixture.bootstrap())?.clusters.first)
        #expect(cluster.circuitBreakers.thresholds.isEmpty)
        for priority in [CircuitBreakers.RoutingPriority.defaultPriority, .high] {
            let t = cluster.circuitBreakers.thresholds(for: priority)
            #expect(t.maxConnections == 1024 && t.maxPendingRequests == 1024 && t.maxRequests == 1024)
            #expect(t.maxRetries == 3 && t.retryBudget == nil && !t.trackRemaining)
        }
    }

    @Test("thresholds are read per priority; the first entry of a priority wins; an empty budget has 20% and 3")
    func values() throws {
        let yaml = Self.yaml("""
            {thresholds: [
                {priority: DEFAULT, max_connections: 1, max_pending_requests: 2, max_requests: 3, max_retries: 4, track_remaining: true},
                {priority: HIGH, max_connections: 10, retry_budget: {}},
                {max_connections: 99}]}
            """)
        let breakers = try #require(Fixture.load(yaml)?.clusters.first?.circuitBreakers)
        let normal = breakers.thresholds(for: .defaultPriority)
        #expect(normal.maxConnections == 1 && normal.maxPendingRequests == 2 && normal.maxRequests == 3)
        #expect(normal.maxRetries == 4 && normal.trackRemaining)
        let high = breakers.thresholds(for: .high)
        #expect(high.maxConnections == 10)
        #expect(high.retryBudget == CircuitBreakers.RetryBudget())
        #expect(high.retryBudget?.budgetPercent == 20 && high.retryBudget?.minRetryConcurrency == 3)
    }

    @Test("retry_budget reads budget_percent (a Percent) and min_retry_concurrency; JSON spellings work")
    func retryBudget() throws {
        let yaml = Self.yaml("{thresholds: [{retryBudget: {budgetPercent: {value: 12.5}, minRetryConcurrency: 0}}]}")
        let budget = try #require(Fixture.load(yaml)?.clusters.first?.circuitBreakers.thresholds(for: .defaultPriority).retryBudget)
        #expect(budget.budgetPercent == 12.5 && budget.minRetryConcurrency == 0)
    }

    @Test("per_host_thresholds is a known field that is not supported yet")
    func perHost() {
        Fixture.expectOneError(Self.yaml("{per_host_thresholds: [{max_connections: 1}]}"), at: "per_host_thresholds",
                               path: Self.path + ".per_host_thresholds",
                               message: "CircuitBreakers.per_host_thresholds is not supported yet by Ferry")
    }

    @Test("max_connection_pools is a known field that is not supported yet")
    func connectionPools() {
        Fixture.expectOneError(Self.yaml("{thresholds: [{max_connection_pools: 1}]}"), at: "max_connection_pools",
                               path: Self.path + ".thresholds[0].max_connection_pools",
                               message: "CircuitBreakers.Thresholds.max_connection_pools is not supported yet by Ferry")
    }

    @Test("a misspelled threshold gets a suggestion")
    func typo() {
        let error = Fixture.expectOneError(Self.yaml("{thresholds: [{max_request: 1}]}"), at: "max_request",
                                           path: Self.path + ".thresholds[0].max_request",
                                           message: "unknown field \"max_request\" in CircuitBreakers.Thresholds (did you mean \"max_requests\"?)")
        #expect(error?.fix == "rename it to max_requests")
    }

    @Test("an unknown priority, a negative limit and a percent over 100 are errors at their values")
    func badValues() {
        Fixture.expectOneError(Self.yaml("{thresholds: [{priority: HIHG}]}"), at: "HIHG",
                               path: Self.path + ".thresholds[0].priority", message: "unknown value \"HIHG\" (did you mean HIGH?)")
        Fixture.expectOneError(Self.yaml("{thresholds: [{max_requests: -1}]}"), at: "-1",
                               path: Self.path + ".thresholds[0].max_requests", message: "-1 is out of range 0...4294967295")
        Fixture.expectOneError(Self.yaml("{thresholds: [{retry_budget: {budget_percent: {value: 150}}}]}"), at: "150",
                               path: Self.path + ".thresholds[0].retry_budget.budget_percent.value",
                               message: "150")
    }
}
