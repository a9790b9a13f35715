/// `envoy.config.cluster.v3.CircuitBreakers`: limits on what a cluster may have in flight,
/// per routing priority. Ferry routes everything at DEFAULT priority (route `priority` is not
/// supported), so HIGH thresholds are decoded and kept but never applied.
public struct CircuitBreakers: Sendable, Equatable {
    /// `envoy.config.core.v3.RoutingPriority`.
    public enum RoutingPriority: String, ConfigEnum {
        case defaultPriority = "DEFAULT"
        case high = "HIGH"
        public var protoNumber: Int { self == .defaultPriority ? 0 : 1 }
    }

    /// `CircuitBreakers.Thresholds`, with Envoy's defaults.
    public struct Thresholds: Sendable, Equatable {
        public var priority: RoutingPriority = .defaultPriority
        /// Upstream connections of the whole cluster (default 1024).
        public var maxConnections: UInt32 = 1024
        /// Requests waiting for a connection (default 1024).
        public var maxPendingRequests: UInt32 = 1024
        /// Requests attached to upstream connections (default 1024).
        public var maxRequests: UInt32 = 1024
        /// Concurrent retries (default 3); replaced by `retryBudget` when that is set.
        public var maxRetries: UInt32 = 3
        public var retryBudget: RetryBudget?
        /// Publish `circuit_breakers.<priority>.remaining_*` gauges.
        public var trackRemaining = false

        public init(priority: RoutingPriority = .defaultPriority) { self.priority = priority }
    }

    /// `Thresholds.RetryBudget`: concurrent retries allowed as a share of active and pending
    /// requests, never below `minRetryConcurrency`.
    public struct RetryBudget: Sendable, Equatable {
        /// Percent (default 20).
        public var budgetPercent: Double = 20
        public var minRetryConcurrency: UInt32 = 3
        public init() {}
    }

    /// As written; the first entry of a priority wins (as Envoy).
    public var thresholds: [Thresholds] = []

    public init(thresholds: [Thresholds] = []) { self.thresholds = thresholds }

    /// The thresholds for `priority`: the first written for it, else Envoy's defaults.
    public func thresholds(for priority: RoutingPriority) -> Thresholds {
        thresholds.first { $0.priority == priority } ?? Thresholds(priority: priority)
    }

    static func decode(_ r: ObjectReader) -> CircuitBreakers {
        defer { r.finish(known: ["thresholds", "per_host_thresholds"]) }
        let message = "envoy.config.cluster.v3.CircuitBreakers.Thresholds"
        return CircuitBreakers(thresholds: r.objects("thresholds", message).map(decodeThresholds))
    }

    private static func decodeThresholds(_ t: ObjectReader) -> Thresholds {
        defer {
            t.finish(known: ["priority", "max_connections", "max_pending_requests", "max_requests", "max_retries",
                             "retry_budget", "track_remaining", "max_connection_pools"])
        }
        var thresholds = Thresholds(priority: t.enumeration("priority", RoutingPriority.self) ?? .defaultPriority)
        if let n = t.uint32("max_connections") { thresholds.maxConnections = n }
        if let n = t.uint32("max_pending_requests") { thresholds.maxPendingRequests = n }
        if let n = t.uint32("max_requests") { thresholds.maxRequests = n }
        if let n = t.uint32("max_retries") { thresholds.maxRetries = n }
        thresholds.trackRemaining = t.bool("track_remaining") ?? false
        if let b = t.object("retry_budget", "envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget") {
            defer { b.finish(known: ["budget_percent", "min_retry_concurrency"]) }
            var budget = RetryBudget()
            if let percent = b.object("budget_percent", "envoy.type.v3.Percent") {
                defer { percent.finish(known: ["value"]) }
                if let value = percent.double("value", in: 0...100, fix: "use a percent between 0 and 100, e.g. `value: 25`") {
                    budget.budgetPercent = value
                }
            }
            if let n = b.uint32("min_retry_concurrency") { budget.minRetryConcurrency = n }
            thresholds.retryBudget = budget
        }
        return thresholds
    }
}
