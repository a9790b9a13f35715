import Atomics

/// Counters a cluster's limits need across all worker loops (Envoy's circuit breaker
/// resources). One per cluster name, kept across reloads while the cluster exists. Each use is
/// one atomic add when a retry starts or ends, never per plain request.
public final class ClusterResources: Sendable {
    /// Envoy's default `circuit_breakers.thresholds.max_retries`.
    public static let defaultMaxRetries = 3

    private let activeRetries = ManagedAtomic<Int>(0)
    public let maxRetries: Int

    public init(maxRetries: Int = ClusterResources.defaultMaxRetries) { self.maxRetries = maxRetries }

    /// Claims a retry slot; false when `max_retries` retries are already in flight.
    public func tryStartRetry() -> Bool {
        let now = activeRetries.wrappingIncrementThenLoad(ordering: .relaxed)
        if now > maxRetries {
            activeRetries.wrappingDecrement(ordering: .relaxed)
            return false
        }
        return true
    }

    public func finishRetry() { activeRetries.wrappingDecrement(ordering: .relaxed) }

    public var retriesInFlight: Int { activeRetries.load(ordering: .relaxed) }

    private let healthVersionValue = ManagedAtomic<UInt64>(0)

    /// Bumped whenever a host of the cluster changes health; each loop compares it with the
    /// version its balancers were built for (one relaxed load per pick) and rebuilds.
    public var healthVersion: UInt64 { healthVersionValue.load(ordering: .relaxed) }

    public func noteHealthChanged() { healthVersionValue.wrappingIncrement(ordering: .relaxed) }

    private let trafficSeen = ManagedAtomic<Bool>(false)

    /// Whether the cluster ever opened an upstream connection (Envoy's `upstream_cx_total` used):
    /// until then, active health checks run at `no_traffic_interval`.
    public var hadTraffic: Bool { trafficSeen.load(ordering: .relaxed) }

    /// Called per new upstream connection: one relaxed load, one store the first time only.
    public func noteTraffic() {
        if !trafficSeen.load(ordering: .relaxed) { trafficSeen.store(true, ordering: .relaxed) }
    }
}
