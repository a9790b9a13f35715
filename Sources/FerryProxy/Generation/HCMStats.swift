import FerryTelemetry

/// Stat ids of `http.<stat_prefix>.*` plus the per-listener copies Envoy keeps under
/// `listener.<address>.http.<stat_prefix>.*`.
struct HCMStats: Sendable {
    let cxTotal, cxHTTP1Total, cxHTTP2Total, cxDestroy, cxDestroyRemote, cxDestroyLocal, cxRxBytes, cxTxBytes: CounterID
    let cxProtocolError, cxIdleTimeout, cxDrainClose, cxUpgradesTotal, cxDestroyActiveRq: CounterID
    let cxActive, cxHTTP1Active, cxHTTP2Active, cxUpgradesActive, rqActive: GaugeID
    let rqTotal, rqHTTP1Total, rqHTTP2Total, rqCompleted, rqTimeout, rqIdleTimeout, rqRxReset, rqTxReset, rqTooLarge: CounterID
    let rqHeaderTimeout, rqResponseBeforeComplete, rqWsOnNonWsRoute, rqFailedPathNormalization: CounterID
    let routeTotal, directResponse, redirect, noRoute, noCluster, rqRetrySkippedRequestNotComplete: CounterID
    let rqMaxDurationReached: CounterID
    /// Envoy's HTTP/1 codec stats (`http1.*`, not per connection manager).
    let droppedHeadersWithUnderscores, requestsRejectedWithUnderscores: CounterID
    let rqClass: [CounterID]
    let listenerRqClass: [CounterID]
    let listenerRqCompleted: CounterID
    let rqTime: HistogramID
    /// Envoy's downstream HTTP/2 codec stats (`http2.*`, shared by every connection manager),
    /// for connection managers that may speak HTTP/2.
    let http2: HTTP2CodecStats?

    init(prefix: String, listenerStatName: String, http2: Bool = false, store: StatsStore) {
        func c(_ s: String) -> CounterID { store.counter(.http(prefix, s)) }
        func g(_ s: String) -> GaugeID { store.gauge(.http(prefix, s)) }
        cxTotal = c("downstream_cx_total")
        cxHTTP1Total = c("downstream_cx_http1_total")
        cxHTTP2Total = c("downstream_cx_http2_total")
        cxDestroy = c("downstream_cx_destroy")
        cxDestroyRemote = c("downstream_cx_destroy_remote")
        cxDestroyLocal = c("downstream_cx_destroy_local")
        cxRxBytes = c("downstream_cx_rx_bytes_total")
        cxTxBytes = c("downstream_cx_tx_bytes_total")
        cxProtocolError = c("downstream_cx_protocol_error")
        cxIdleTimeout = c("downstream_cx_idle_timeout")
        cxDrainClose = c("downstream_cx_drain_close")
        cxUpgradesTotal = c("downstream_cx_upgrades_total")
        cxDestroyActiveRq = c("downstream_cx_destroy_active_rq")
        cxActive = g("downstream_cx_active")
        cxHTTP1Active = g("downstream_cx_http1_active")
        cxHTTP2Active = g("downstream_cx_http2_active")
        cxUpgradesActive = g("downstream_cx_upgrades_active")
        rqActive = g("downstream_rq_active")
        rqTotal = c("downstream_rq_total")
        rqHTTP1Total = c("downstream_rq_http1_total")
        rqHTTP2Total = c("downstream_rq_http2_total")
        rqCompleted = c("downstream_rq_completed")
        rqTimeout = c("downstream_rq_timeout")
        rqIdleTimeout = c("downstream_rq_idle_timeout")
        rqRxReset = c("downstream_rq_rx_reset")
        rqTxReset = c("downstream_rq_tx_reset")
        rqTooLarge = c("downstream_rq_too_large")
        rqHeaderTimeout = c("downstream_rq_header_timeout")
        rqResponseBeforeComplete = c("downstream_rq_response_before_rq_complete")
        rqWsOnNonWsRoute = c("downstream_rq_ws_on_non_ws_route")
        rqFailedPathNormalization = c("downstream_rq_failed_path_normalization")
        rqMaxDurationReached = c("downstream_rq_max_duration_reached")
        routeTotal = c("rq_total")
        directResponse = c("rq_direct_response")
        redirect = c("rq_redirect")
        rqRetrySkippedRequestNotComplete = c("rq_retry_skipped_request_not_complete")
        droppedHeadersWithUnderscores = store.counter(.plain("http1.dropped_headers_with_underscores"))
        requestsRejectedWithUnderscores = store.counter(.plain("http1.requests_rejected_with_underscores_in_headers"))
        noRoute = c("no_route")
        noCluster = c("no_cluster")
        rqClass = (1...5).map { c("downstream_rq_\($0)xx") }
        listenerRqClass = (1...5).map { store.counter(.listenerHTTP(listenerStatName, prefix, "downstream_rq_\($0)xx")) }
        listenerRqCompleted = store.counter(.listenerHTTP(listenerStatName, prefix, "downstream_rq_completed"))
        rqTime = store.histogram(.http(prefix, "downstream_rq_time"))
        self.http2 = http2 ? HTTP2CodecStats { store.counter(.plain($0)) } : nil
    }
}

/// Stat ids of `listener.<address>.*`.
struct ListenerStats: Sendable {
    let cxTotal, cxDestroy, cxOverflow: CounterID
    let cxActive: GaugeID
    /// Connections no filter chain took; listener filters that timed out; connections that
    /// closed while the listener filters waited for bytes; connections in listener filters.
    let noFilterChainMatch, preCxTimeout, listenerFilterRemoteClose: CounterID
    let preCxActive: GaugeID
    /// Connections whose TLS handshake outlasted `transport_socket_connect_timeout`.
    let transportSocketConnectTimeout: CounterID

    init(statName: String, store: StatsStore) {
        noFilterChainMatch = store.counter(.listener(statName, "no_filter_chain_match"))
        preCxTimeout = store.counter(.listener(statName, "downstream_pre_cx_timeout"))
        listenerFilterRemoteClose = store.counter(.listener(statName, "downstream_listener_filter_remote_close"))
        preCxActive = store.gauge(.listener(statName, "downstream_pre_cx_active"))
        transportSocketConnectTimeout = store.counter(.listener(statName, "downstream_cx_transport_socket_connect_timeout"))
        cxTotal = store.counter(.listener(statName, "downstream_cx_total"))
        cxDestroy = store.counter(.listener(statName, "downstream_cx_destroy"))
        cxOverflow = store.counter(.listener(statName, "downstream_cx_overflow"))
        cxActive = store.gauge(.listener(statName, "downstream_cx_active"))
    }
}
