import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// One filter chain of a listener, compiled: its terminal network filter ready to serve.
final class CompiledFilterChain: Sendable {
    enum Terminal: Sendable {
        case httpConnectionManager(CompiledHCM)
        case tcpProxy(CompiledTcpProxy)
    }

    /// Identifies the chain across reloads: its name, else its position ("#0", "default").
    let key: String
    let config: FilterChain
    let terminal: Terminal
    /// TLS termination (the chain's transport_socket); nil = plaintext.
    let tls: CompiledDownstreamTLS?

    init(key: String, config: FilterChain, terminal: Terminal, tls: CompiledDownstreamTLS? = nil) {
        self.key = key
        self.config = config
        self.terminal = terminal
        self.tls = tls
    }

    var hcm: CompiledHCM? {
        if case .httpConnectionManager(let hcm) = terminal { return hcm }
        return nil
    }
}

/// `envoy.filters.network.tcp_proxy` compiled: cluster handles, timers and stats.
final class CompiledTcpProxy: Sendable {
    let config: TcpProxy
    /// The clusters a connection may go to (one, or the weighted ones in order).
    let targets: [ClusterHandle]
    let weights: WeightedPick?
    let idleTimeout: TimeAmount?
    let maxDuration: TimeAmount?
    let maxConnectAttempts: Int
    let accessLogs: [CompiledAccessLog]
    let stats: TCPProxyStats

    init(config: TcpProxy, clusterIndex: [String: Int], accessLogs: [CompiledAccessLog], store: StatsStore) {
        self.config = config
        let names = config.target.clusterNames
        targets = names.map { ClusterHandle(name: $0, index: clusterIndex[$0] ?? -1) }
        if case .weighted(let weighted) = config.target {
            weights = WeightedPick(weights: weighted.map { UInt64($0.weight) })
        } else {
            weights = nil
        }
        idleTimeout = config.idleTimeout == .zero ? nil : TimeAmount(config.idleTimeout)
        maxDuration = config.maxDownstreamConnectionDuration.map(TimeAmount.init)
        maxConnectAttempts = Int(config.maxConnectAttempts)
        self.accessLogs = accessLogs
        stats = TCPProxyStats(prefix: config.statPrefix, store: store)
    }

    /// The cluster for a new connection: the only one, or a weighted pick.
    func pickTarget(using random: inout FastRandom) -> ClusterHandle {
        guard let weights else { return targets[0] }
        return targets[weights.pick(using: &random)]
    }
}

/// Stat ids of `tcp.<stat_prefix>.*` (Envoy's tcp_proxy stats).
struct TCPProxyStats: Sendable {
    let cxTotal, cxNoRoute, cxTxBytes, cxRxBytes, idleTimeout, maxDurationReached: CounterID
    let flowPaused, flowResumed: CounterID

    init(prefix: String, store: StatsStore) {
        func c(_ name: String) -> CounterID { store.counter(.tcp(prefix, name)) }
        cxTotal = c("downstream_cx_total")
        cxNoRoute = c("downstream_cx_no_route")
        cxTxBytes = c("downstream_cx_tx_bytes_total")
        cxRxBytes = c("downstream_cx_rx_bytes_total")
        idleTimeout = c("idle_timeout")
        maxDurationReached = c("max_downstream_connection_duration")
        flowPaused = c("downstream_flow_control_paused_reading_total")
        flowResumed = c("downstream_flow_control_resumed_reading_total")
    }
}

/// Stat ids of the TLS inspector (`tls_inspector.*`, shared by every listener as in Envoy).
struct TLSInspectorStats: Sendable {
    let tlsFound, tlsNotFound, sniFound, sniNotFound, alpnFound, alpnNotFound, clientHelloTooLarge: CounterID

    init(store: StatsStore) {
        func c(_ name: String) -> CounterID { store.counter(.plain("tls_inspector." + name)) }
        tlsFound = c("tls_found")
        tlsNotFound = c("tls_not_found")
        sniFound = c("sni_found")
        sniNotFound = c("sni_not_found")
        alpnFound = c("alpn_found")
        alpnNotFound = c("alpn_not_found")
        clientHelloTooLarge = c("client_hello_too_large")
    }
}
