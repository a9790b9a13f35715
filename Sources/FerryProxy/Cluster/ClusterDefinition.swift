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
    /// `common_http_protocol_options.max_stream_duration` of one upstream request.
    let maxStreamDuration: TimeAmount?
    let bufferLimit: Int
    let stats: ClusterStats
    /// Equal fingerprints mean a reload may keep this cluster's hosts and pools.
    let fingerprint: String
    /// TLS to the endpoints (transport_socket); nil = plain TCP.
    let tls: CompiledUpstreamTLS?

    init(_ config: Cluster, index: Int, store: StatsStore, tls: CompiledUpstreamTLS? = nil) {
        self.tls = tls
        name = config.name
        self.index = index
        self.config = config
        connectTimeout = TimeAmount(config.connectTimeout)
        idleTimeout = config.idleTimeout == .zero ? nil : TimeAmount(config.idleTimeout)
        maxRequestsPerConnection = config.maxRequestsPerConnection.map(Int.init)
        maxStreamDuration = config.maxStreamDuration.map(TimeAmount.init)
        bufferLimit = Int(config.perConnectionBufferLimitBytes)
        stats = ClusterStats(cluster: config.name, circuitBreakers: config.circuitBreakers,
                             http2: config.upstreamProtocol.mayUseHTTP2, store: store)
        fingerprint = "\(config.type)|\(config.connectTimeout)|\(config.lbPolicy)|\(config.idleTimeout)|\(String(describing: config.maxRequestsPerConnection))|\(config.perConnectionBufferLimitBytes)|\(config.dnsRefreshRate)|\(config.dnsLookupFamily)|\(config.localityWeighted)|\(config.healthyPanicThreshold)|\(config.leastRequest)|\(config.ringHash)|\(config.maglev)|\(String(describing: config.peakEWMA))|\(config.activeHealthChecking)|\(String(describing: config.slowStart))|\(config.outlierDetection.map(String.init(describing:)) ?? "-")|"
            + config.loadAssignment.localities.map { l in
                "\(l.priority)/\(l.weight ?? 0)/\(l.locality)/" + l.endpoints.map { "\($0.address.address):\($0.address.port)*\($0.weight)@\($0.hostname)~\($0.healthStatus)~\(String(describing: $0.healthCheckPort))~\($0.disableActiveHealthCheck)" }.joined(separator: ",")
            }.joined(separator: ";") + "|\(config.loadAssignment.overprovisioningFactor)"
            + "|\(config.upstreamTls.map { String(describing: $0) } ?? "-")"
            + "|\(String(describing: config.maxStreamDuration))|\(config.upstreamProtocol)"
    }
}

/// Stat ids of `cluster.<name>.*`.
struct ClusterStats: Sendable {
    let upstreamCxTotal, upstreamCxConnectFail, upstreamCxConnectTimeout, upstreamCxHTTP1Total, upstreamCxHTTP2Total: CounterID
    /// `http2.*`: connections closed as floods or because a keepalive PING went unanswered
    /// (only for clusters that may speak HTTP/2, as Envoy registers its codec stats).
    let http2: HTTP2CodecStats?
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
    let upstreamRqMaxDurationReached: CounterID
    /// Picks made in panic mode (too few healthy hosts), and requests with no healthy host at all.
    let lbHealthyPanic, upstreamCxNoneHealthy: CounterID
    let upstreamRqPendingOverflow, upstreamCxOverflow, upstreamCxConnectAttemptsExceeded: CounterID
    /// `circuit_breakers.default.*` and `circuit_breakers.high.*`.
    let circuitBreakers: [CircuitBreakerGauges]
    let cluster: String

    init(cluster: String, circuitBreakers: CircuitBreakers = .init(), http2: Bool = false, store: StatsStore) {
        self.cluster = cluster
        func c(_ s: String) -> CounterID { store.counter(.cluster(cluster, s)) }
        func g(_ s: String) -> GaugeID { store.gauge(.cluster(cluster, s)) }
        upstreamCxTotal = c("upstream_cx_total")
        upstreamCxConnectFail = c("upstream_cx_connect_fail")
        upstreamCxConnectTimeout = c("upstream_cx_connect_timeout")
        upstreamCxHTTP1Total = c("upstream_cx_http1_total")
        upstreamCxHTTP2Total = c("upstream_cx_http2_total")
        self.http2 = http2 ? HTTP2CodecStats(c) : nil
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
        upstreamRqMaxDurationReached = c("upstream_rq_max_duration_reached")
        lbHealthyPanic = c("lb_healthy_panic")
        upstreamCxNoneHealthy = c("upstream_cx_none_healthy")
        upstreamRqPerTryIdleTimeout = c("upstream_rq_per_try_idle_timeout")
        upstreamRqRetryBackoffExponential = c("upstream_rq_retry_backoff_exponential")
        upstreamRqPendingOverflow = c("upstream_rq_pending_overflow")
        upstreamCxOverflow = c("upstream_cx_overflow")
        upstreamCxConnectAttemptsExceeded = c("upstream_cx_connect_attempts_exceeded")
        self.circuitBreakers = [CircuitBreakers.RoutingPriority.defaultPriority, .high].map { priority in
            CircuitBreakerGauges(cluster: cluster, thresholds: circuitBreakers.thresholds(for: priority), store: store)
        }
    }
}

/// Gauge ids of `cluster.<name>.circuit_breakers.<priority>.*`: the open gauges always, the
/// remaining ones with `track_remaining` (as Envoy). Values are set when stats are read.
struct CircuitBreakerGauges: Sendable {
    let priority: CircuitBreakers.RoutingPriority
    let cxOpen, cxPoolOpen, rqOpen, rqPendingOpen, rqRetryOpen: GaugeID
    let remainingCx, remainingPending, remainingRq, remainingRetries: GaugeID?

    init(cluster: String, thresholds: CircuitBreakers.Thresholds, store: StatsStore) {
        priority = thresholds.priority
        let prefix = "circuit_breakers.\(priority == .high ? "high" : "default")."
        func g(_ s: String) -> GaugeID { store.gauge(.cluster(cluster, prefix + s)) }
        cxOpen = g("cx_open")
        cxPoolOpen = g("cx_pool_open")
        rqOpen = g("rq_open")
        rqPendingOpen = g("rq_pending_open")
        rqRetryOpen = g("rq_retry_open")
        let track = thresholds.trackRemaining
        remainingCx = track ? g("remaining_cx") : nil
        remainingPending = track ? g("remaining_pending") : nil
        remainingRq = track ? g("remaining_rq") : nil
        remainingRetries = track ? g("remaining_retries") : nil
    }

    /// Sets the gauges from the cluster's shared counts. HIGH priority is never used by a
    /// route, so its resources are idle: closed, everything remaining.
    func publish(_ resources: ClusterResources, thresholds: CircuitBreakers.Thresholds, to store: StatsStore) {
        let g = priority == .defaultPriority ? resources.gauges : ClusterResources(thresholds).gauges
        store.set(cxOpen, Int64(g.cxOpen))
        store.set(cxPoolOpen, 0)
        store.set(rqOpen, Int64(g.rqOpen))
        store.set(rqPendingOpen, Int64(g.rqPendingOpen))
        store.set(rqRetryOpen, Int64(g.rqRetryOpen))
        if let remainingCx { store.set(remainingCx, Int64(g.remainingCx)) }
        if let remainingPending { store.set(remainingPending, Int64(g.remainingPending)) }
        if let remainingRq { store.set(remainingRq, Int64(g.remainingRq)) }
        if let remainingRetries { store.set(remainingRetries, Int64(g.remainingRetries)) }
    }
}
