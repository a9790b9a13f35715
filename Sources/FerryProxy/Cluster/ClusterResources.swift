import Atomics
import FerryConfig
import NIOConcurrencyHelpers

/// A cluster's circuit breaker resources (Envoy's ResourceManager at DEFAULT priority),
/// shared by every worker loop: one per cluster name, kept across reloads while the process
/// runs, so counts of requests in flight stay right when a reload changes the limits (the
/// limits are atomics too, and `apply` swaps them in place).
///
/// Cost on the request path: attaching a request to a connection is one relaxed atomic
/// increment (plus one load of its limit), finishing it one relaxed decrement. Pending
/// requests, connections and retries are counted only when they happen. As in Envoy, a
/// limit may be passed briefly by loops racing for the last slot; each loop backs out its own
/// increment, so the count never drifts.
public final class ClusterResources: Sendable {
    /// Envoy's default `circuit_breakers.thresholds.max_retries`.
    public static let defaultMaxRetries = 3

    /// One counted resource and its limit.
    public final class Resource: Sendable {
        private let current = ManagedAtomic<Int>(0)
        private let limit: ManagedAtomic<Int>

        init(limit: Int) { self.limit = ManagedAtomic(limit) }

        public var count: Int { current.load(ordering: .relaxed) }
        public var max: Int { limit.load(ordering: .relaxed) }

        /// Claims one unit unless `max` are in use (`max` given for computed limits).
        func tryAcquire(max: Int? = nil) -> Bool {
            let now = current.wrappingIncrementThenLoad(ordering: .relaxed)
            if now > (max ?? self.max) {
                current.wrappingDecrement(ordering: .relaxed)
                return false
            }
            return true
        }

        /// Claims one unit regardless of the limit (a pool's only connection, as Envoy).
        func acquire() { current.wrappingIncrement(ordering: .relaxed) }
        func release() { current.wrappingDecrement(ordering: .relaxed) }
        func setLimit(_ value: Int) { limit.store(value, ordering: .relaxed) }
    }

    public let connections: Resource
    public let pendingRequests: Resource
    public let requests: Resource
    public let retries: Resource
    /// `retry_budget` as (percent × 1000, min_retry_concurrency); percent < 0 means none.
    private let budgetPermille = ManagedAtomic<Int>(-1)
    private let minRetryConcurrency = ManagedAtomic<Int>(3)
    private let trackRemainingFlag = ManagedAtomic<Bool>(false)

    public init(_ thresholds: CircuitBreakers.Thresholds = .init()) {
        connections = Resource(limit: Int(thresholds.maxConnections))
        pendingRequests = Resource(limit: Int(thresholds.maxPendingRequests))
        requests = Resource(limit: Int(thresholds.maxRequests))
        retries = Resource(limit: Int(thresholds.maxRetries))
        apply(thresholds)
    }

    /// Installs the limits of a (re)loaded configuration; counts are kept.
    public func apply(_ t: CircuitBreakers.Thresholds) {
        connections.setLimit(Int(t.maxConnections))
        pendingRequests.setLimit(Int(t.maxPendingRequests))
        requests.setLimit(Int(t.maxRequests))
        retries.setLimit(Int(t.maxRetries))
        budgetPermille.store(t.retryBudget.map { Int(($0.budgetPercent * 1000).rounded()) } ?? -1, ordering: .relaxed)
        minRetryConcurrency.store(Int(t.retryBudget?.minRetryConcurrency ?? 3), ordering: .relaxed)
        trackRemainingFlag.store(t.trackRemaining, ordering: .relaxed)
    }

    public var usesRetryBudget: Bool { budgetPermille.load(ordering: .relaxed) >= 0 }
    public var trackRemaining: Bool { trackRemainingFlag.load(ordering: .relaxed) }

    /// Concurrent retries allowed now: `max_retries`, or with a retry budget
    /// max(budget% × (active + pending requests), min_retry_concurrency).
    public var maxRetries: Int {
        let permille = budgetPermille.load(ordering: .relaxed)
        guard permille >= 0 else { return retries.max }
        return Self.retryBudgetLimit(permille: permille, minConcurrency: minRetryConcurrency.load(ordering: .relaxed),
                                     active: requests.count + pendingRequests.count)
    }

    /// Envoy's RetryBudget arithmetic: the share rounded down, floored at the minimum.
    public static func retryBudgetLimit(permille: Int, minConcurrency: Int, active: Int) -> Int {
        Swift.max(permille * Swift.max(active, 0) / 100_000, minConcurrency)
    }

    /// Claims a retry slot; false when the retries allowed are already in flight.
    public func tryStartRetry() -> Bool { retries.tryAcquire(max: maxRetries) }

    public func finishRetry() { retries.release() }

    public var retriesInFlight: Int { retries.count }

    /// What `circuit_breakers.default.*` gauges show: open (1 while at the limit) and remaining.
    public struct Gauges: Equatable, Sendable {
        public var cxOpen = 0, rqPendingOpen = 0, rqOpen = 0, rqRetryOpen = 0
        public var remainingCx = 0, remainingPending = 0, remainingRq = 0, remainingRetries = 0
    }

    public var gauges: Gauges {
        func open(_ r: Resource, _ max: Int) -> Int { r.count >= max ? 1 : 0 }
        func remaining(_ r: Resource, _ max: Int) -> Int { Swift.max(max - r.count, 0) }
        var g = Gauges()
        g.cxOpen = open(connections, connections.max)
        g.rqPendingOpen = open(pendingRequests, pendingRequests.max)
        g.rqOpen = open(requests, requests.max)
        // As Envoy: rq_retry_open follows max_retries; remaining_retries is 0 under a budget.
        g.rqRetryOpen = open(retries, retries.max)
        g.remainingCx = remaining(connections, connections.max)
        g.remainingPending = remaining(pendingRequests, pendingRequests.max)
        g.remainingRq = remaining(requests, requests.max)
        g.remainingRetries = usesRetryBudget ? 0 : remaining(retries, retries.max)
        return g
    }

    private let healthVersionValue = ManagedAtomic<UInt64>(0)

    /// Bumped whenever a host of the cluster changes health; each loop compares it with the
    /// version its balancers were built for (one relaxed load per pick) and rebuilds.
    public var healthVersion: UInt64 { healthVersionValue.load(ordering: .relaxed) }

    public func noteHealthChanged() { healthVersionValue.wrappingIncrement(ordering: .relaxed) }

    private let trafficSeen = ManagedAtomic<Bool>(false)

    /// Whether the cluster ever opened an upstream connection (Envoy's `upstream_cx_total` used):
    /// until then, active health checks run at `no_traffic_interval`.
    public var hadTraffic: Bool { trafficSeen.load(ordering: .relaxed) }

    /// Set while the cluster has an active health checker: a response carrying
    /// `x-envoy-immediate-health-check-fail` marks its host unhealthy at once (as Envoy's router
    /// tells the health checker), until it passes `healthy_threshold` checks again.
    private let immediateFailHandler = NIOLockedValueBox<(@Sendable (UpstreamHost) -> Void)?>(nil)

    func setImmediateHealthCheckFailHandler(_ handler: (@Sendable (UpstreamHost) -> Void)?) {
        immediateFailHandler.withLockedValue { $0 = handler }
    }

    func reportImmediateHealthCheckFail(_ host: UpstreamHost) {
        immediateFailHandler.withLockedValue { $0 }?(host)
    }

    /// Called per new upstream connection: one relaxed load, one store the first time only.
    public func noteTraffic() {
        if !trafficSeen.load(ordering: .relaxed) { trafficSeen.store(true, ordering: .relaxed) }
    }
}
