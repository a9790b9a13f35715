import FerryConfig
import Testing

@testable import FerryProxy

/// The circuit breaker arithmetic of `ClusterResources`, without loops or sockets: claiming up
/// to a limit, the retry budget formula and the open/remaining gauges (Envoy 1.40's
/// ResourceManagerImpl).
@Suite("Cluster resources (circuit breakers)")
struct ClusterResourcesTests {
    static func thresholds(_ edit: (inout CircuitBreakers.Thresholds) -> Void) -> CircuitBreakers.Thresholds {
        var t = CircuitBreakers.Thresholds()
        edit(&t)
        return t
    }

    @Test("a resource hands out exactly max slots, and a released slot can be claimed again")
    func claimsUpToLimit() {
        let resources = ClusterResources(Self.thresholds { $0.maxRequests = 2 })
        #expect(resources.requests.tryAcquire())
        #expect(resources.requests.tryAcquire())
        #expect(!resources.requests.tryAcquire())
        #expect(resources.requests.count == 2, "a refused claim leaves the count alone")
        resources.requests.release()
        #expect(resources.requests.tryAcquire())
    }

    @Test("retry budget: max(budget% × (active + pending), min_retry_concurrency), rounded down")
    func retryBudgetFormula() {
        #expect(ClusterResources.retryBudgetLimit(permille: 20_000, minConcurrency: 3, active: 0) == 3)
        #expect(ClusterResources.retryBudgetLimit(permille: 20_000, minConcurrency: 3, active: 14) == 3)
        #expect(ClusterResources.retryBudgetLimit(permille: 20_000, minConcurrency: 3, active: 20) == 4)
        #expect(ClusterResources.retryBudgetLimit(permille: 25_000, minConcurrency: 3, active: 100) == 25)
        #expect(ClusterResources.retryBudgetLimit(permille: 12_500, minConcurrency: 0, active: 7) == 0)
        #expect(ClusterResources.retryBudgetLimit(permille: 100_000, minConcurrency: 1, active: 9) == 9)
    }

    @Test("with a retry budget the retry limit follows active and pending requests, not max_retries")
    func budgetReplacesMaxRetries() {
        var budget = CircuitBreakers.RetryBudget()
        budget.budgetPercent = 50
        budget.minRetryConcurrency = 1
        let resources = ClusterResources(Self.thresholds { $0.maxRetries = 100; $0.retryBudget = budget })
        #expect(resources.maxRetries == 1)
        for _ in 0..<4 { #expect(resources.requests.tryAcquire()) }
        for _ in 0..<2 { #expect(resources.pendingRequests.tryAcquire()) }
        #expect(resources.maxRetries == 3)
        #expect(resources.tryStartRetry() && resources.tryStartRetry() && resources.tryStartRetry())
        #expect(!resources.tryStartRetry())
        #expect(resources.gauges.remainingRetries == 0, "Envoy clears remaining_retries under a budget")
    }

    @Test("without a budget max_retries (default 3) bounds concurrent retries")
    func maxRetriesDefault() {
        let resources = ClusterResources()
        #expect(resources.maxRetries == 3)
        for _ in 0..<3 { #expect(resources.tryStartRetry()) }
        #expect(!resources.tryStartRetry())
        resources.finishRetry()
        #expect(resources.retriesInFlight == 2)
        #expect(resources.tryStartRetry())
    }

    @Test("open gauges are 1 exactly at the limit; remaining counts down to 0")
    func gauges() {
        let resources = ClusterResources(Self.thresholds { $0.maxConnections = 2; $0.maxPendingRequests = 1 })
        #expect(resources.gauges == .init(remainingCx: 2, remainingPending: 1, remainingRq: 1024, remainingRetries: 3))
        #expect(resources.connections.tryAcquire())
        #expect(resources.gauges.cxOpen == 0 && resources.gauges.remainingCx == 1)
        #expect(resources.connections.tryAcquire() && resources.pendingRequests.tryAcquire())
        let g = resources.gauges
        #expect(g.cxOpen == 1 && g.remainingCx == 0 && g.rqPendingOpen == 1 && g.remainingPending == 0)
        resources.connections.acquire()  // a pool's first connection may pass the limit
        #expect(resources.gauges.remainingCx == 0 && resources.gauges.cxOpen == 1)
    }

    @Test("apply swaps the limits of a reload in place and keeps what is in flight")
    func applyKeepsCounts() {
        let resources = ClusterResources(Self.thresholds { $0.maxRequests = 1 })
        #expect(resources.requests.tryAcquire())
        #expect(!resources.requests.tryAcquire())
        resources.apply(Self.thresholds { $0.maxRequests = 3 })
        #expect(resources.requests.count == 1)
        #expect(resources.requests.tryAcquire() && resources.requests.tryAcquire())
        #expect(!resources.requests.tryAcquire())
    }
}
