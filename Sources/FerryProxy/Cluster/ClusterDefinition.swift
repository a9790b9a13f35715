import FerryConfig
import FerryTelemetry
import NIOCore

/// A cluster as compiled for one configuration generation: its settings in run-time units
/// and its stat ids. Workers keep per-loop state (balancers, pools) next to it.
public final class ClusterDefinition: Sendable {
    public let name: String
    public let index: Int
    public let config: Cluster
    let connectTimeout: TimeAmount
    let idleTimeout: TimeAmount?
    let maxRequestsPerConnection: Int?
    let bufferLimit: Int
    let stats: ClusterStats
    /// Equal fingerprints mean a reload may keep this cluster's hosts and pools.
    let fingerprint: String

    init(_ config: Cluster, index: Int, store: StatsStore) {
        name = config.name
        self.index = index
        self.config = config
        connectTimeout = TimeAmount(config.connectTimeout)
        idleTimeout = config.idleTimeout == .zero ? nil : TimeAmount(config.idleTimeout)
        maxRequestsPerConnection = config.maxRequestsPerConnection.map(Int.init)
        bufferLimit = Int(config.perConnectionBufferLimitBytes)
        stats = ClusterStats(cluster: config.name, store: store)
        fingerprint = "\(config.type)|\(config.connectTimeout)|\(config.lbPolicy)|\(config.idleTimeout)|\(String(describing: config.maxRequestsPerConnection))|\(config.perConnectionBufferLimitBytes)|\(config.dnsRefreshRate)|\(config.dnsLookupFamily)|\(config.localityWeighted)|\(config.healthyPanicThreshold)|\(config.leastRequest)|\(config.ringHash)|\(config.maglev)|\(config.outlierDetection.map(String.init(describing:)) ?? "-")|"
            + config.loadAssignment.localities.map { l in
                "\(l.priority)/\(l.weight ?? 0)/\(l.locality)/" + l.endpoints.map { "\($0.address.address):\($0.address.port)*\($0.weight)@\($0.hostname)~\($0.healthStatus)" }.joined(separator: ",")
            }.joined(separator: ";") + "|\(config.loadAssignment.overprovisioningFactor)"
    }
}

/// Stat ids of `cluster.<name>.*`.
struct ClusterStats: Sendable {
    let upstreamCxTotal, upstreamCxConnectFail, upstreamCxConnectTimeout, upstreamCxHTTP1Total: CounterID
    let upstreamCxDestroy, upstreamCxDestroyLocal, upstreamCxDestroyRemote, upstreamCxIdleTimeout: CounterID
    let upstreamCxMaxRequests, upstreamCxRxBytesTotal, upstreamCxTxBytesTotal, upstreamCxProtocolError: CounterID
    let upstreamCxDestroyWithActiveRq, upstreamCxDestroyRemoteWithActiveRq, upstreamCxDestroyLocalWithActiveRq: CounterID
    let upstreamRqTotal, upstreamRqCompleted, upstreamRqPendingTotal, upstreamRqTimeout: CounterID
    let upstreamRqRxReset, upstreamRqTxReset, upstreamRqCancelled: CounterID
    let upstreamRqClass: [CounterID]
    /// `retry.upstream_rq_<class>xx` and `retry.upstream_rq_completed`: responses that were retried.
    let retryUpstreamRqClass: [CounterID]
    let retryUpstreamRqCompleted, retryOrShadowAbandoned: CounterID
    let upstreamCxActive, upstreamRqActive, upstreamRqPendingActive: GaugeID
    let membershipTotal, membershipHealthy, membershipDegraded: GaugeID
    let membershipChange, updateAttempt, updateSuccess, updateFailure: CounterID
    let upstreamRqTime: HistogramID
    let upstreamRqRetry, upstreamRqRetrySuccess, upstreamRqRetryOverflow, upstreamRqRetryLimitExceeded: CounterID
    let upstreamRqPerTryTimeout, upstreamRqPerTryIdleTimeout, upstreamRqRetryBackoffExponential: CounterID
    /// Picks made in panic mode (too few healthy hosts), and requests with no healthy host at all.
    let lbHealthyPanic, upstreamCxNoneHealthy: CounterID
    let cluster: String

    init(cluster: String, store: StatsStore) {
        self.cluster = cluster
        func c(_ s: String) -> CounterID { store.counter(.cluster(cluster, s)) }
        func g(_ s: String) -> GaugeID { store.gauge(.cluster(cluster, s)) }
        upstreamCxTotal = c("upstream_cx_total")
        upstreamCxConnectFail = c("upstream_cx_connect_fail")
        upstreamCxConnectTimeout = c("upstream_cx_connect_timeout")
        upstreamCxHTTP1Total = c("upstream_cx_http1_total")
        upstreamCxDestroy = c("upstream_cx_destroy")
        upstreamCxDestroyLocal = c("upstream_cx_destroy_local")
        upstreamCxDestroyRemote = c("upstream_cx_destroy_remote")
        upstreamCxIdleTimeout = c("upstream_cx_idle_timeout")
        upstreamCxMaxRequests = c("upstream_cx_max_requests")
        upstreamCxRxBytesTotal = c("upstream_cx_rx_bytes_total")
        upstreamCxTxBytesTotal = c("upstream_cx_tx_bytes_total")
        upstreamCxProtocolError = c("upstream_cx_protocol_error")
        upstreamCxDestroyWithActiveRq = c("upstream_cx_destroy_with_active_rq")
        upstreamCxDestroyRemoteWithActiveRq = c("upstream_cx_destroy_remote_with_active_rq")
        upstreamCxDestroyLocalWithActiveRq = c("upstream_cx_destroy_local_with_active_rq")
        upstreamRqTotal = c("upstream_rq_total")
        upstreamRqCompleted = c("upstream_rq_completed")
        upstreamRqPendingTotal = c("upstream_rq_pending_total")
        upstreamRqTimeout = c("upstream_rq_timeout")
        upstreamRqRxReset = c("upstream_rq_rx_reset")
        upstreamRqTxReset = c("upstream_rq_tx_reset")
        upstreamRqCancelled = c("upstream_rq_cancelled")
        upstreamRqClass = (1...5).map { c("upstream_rq_\($0)xx") }
        retryUpstreamRqClass = (1...5).map { c("retry.upstream_rq_\($0)xx") }
        retryUpstreamRqCompleted = c("retry.upstream_rq_completed")
        retryOrShadowAbandoned = c("retry_or_shadow_abandoned")
        upstreamCxActive = g("upstream_cx_active")
        upstreamRqActive = g("upstream_rq_active")
        upstreamRqPendingActive = g("upstream_rq_pending_active")
        membershipTotal = g("membership_total")
        membershipHealthy = g("membership_healthy")
        membershipDegraded = g("membership_degraded")
        membershipChange = c("membership_change")
        updateAttempt = c("update_attempt")
        updateSuccess = c("update_success")
        updateFailure = c("update_failure")
        upstreamRqTime = store.histogram(.cluster(cluster, "upstream_rq_time"))
        upstreamRqRetry = c("upstream_rq_retry")
        upstreamRqRetrySuccess = c("upstream_rq_retry_success")
        upstreamRqRetryOverflow = c("upstream_rq_retry_overflow")
        upstreamRqRetryLimitExceeded = c("upstream_rq_retry_limit_exceeded")
        upstreamRqPerTryTimeout = c("upstream_rq_per_try_timeout")
        lbHealthyPanic = c("lb_healthy_panic")
        upstreamCxNoneHealthy = c("upstream_cx_none_healthy")
        upstreamRqPerTryIdleTimeout = c("upstream_rq_per_try_idle_timeout")
        upstreamRqRetryBackoffExponential = c("upstream_rq_retry_backoff_exponential")
    }
}
