/// `envoy.config.listener.v3.Listener`: an address, the listener filters that run on each
/// accepted connection, and the filter chains one of which then serves it.
public struct Listener: Sendable {
    public var name: String
    public var address: SocketAddress
    /// Listener stats are rooted at `listener.<stat_prefix or address>`.
    public var statPrefix: String?
    /// In config order; each connection gets the most specific matching one (Envoy's rules).
    public var filterChains: [FilterChain]
    /// Serves connections no chain matches; without it they are closed (`no_filter_chain_match`).
    public var defaultFilterChain: FilterChain?
    public var listenerFilters: [ListenerFilter] = []
    /// How long listener filters may wait for bytes (Envoy's default 15 s); zero waits forever.
    public var listenerFiltersTimeout: Duration = .seconds(15)
    /// At the timeout: go on with what is known (true) or close the connection (false, Envoy's default).
    public var continueOnListenerFiltersTimeout = false
    public var perConnectionBufferLimitBytes: UInt32 = 1_048_576
    public var enableReusePort = true
    public var backlog: UInt32?
    /// `traffic_direction`: `/drain_listeners?inboundonly` stops only INBOUND listeners.
    public var trafficDirection: TrafficDirection = .unspecified
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String, address: SocketAddress, filterChains: [FilterChain]) {
        self.name = name
        self.address = address
        self.filterChains = filterChains
    }

    public init(name: String, address: SocketAddress, httpConnectionManager: HttpConnectionManager) {
        self.init(name: name, address: address, filterChains: [FilterChain(filter: .httpConnectionManager(httpConnectionManager))])
    }

    /// `listener.<this>.downstream_cx_total`: the stat prefix, or the address with ':' as '_'.
    public var statName: String {
        if let statPrefix, !statPrefix.isEmpty { return statPrefix }
        return "\(address.address)_\(address.port)"
    }

    /// The filter chains, then the default one.
    public var allFilterChains: [FilterChain] { filterChains + (defaultFilterChain.map { [$0] } ?? []) }

    /// The first chain's HTTP connection manager: the whole listener in the common one-chain case.
    public var httpConnectionManager: HttpConnectionManager? { allFilterChains.first?.httpConnectionManager }

    static func decode(_ r: ObjectReader, index: Int, context: DecodeContext) -> Listener? {
        defer { r.finish() }
        let name = r.string("name") ?? ""
        guard let addressReader = r.object("address", "envoy.config.core.v3.Address") else {
            r.diagnostics.error(r.node.location, r.join("address"), "a listener needs an address",
                                fix: "add `address: {socket_address: {address: 0.0.0.0, port_value: 10000}}`")
            r.skipRemaining()
            return nil
        }
        let address = SocketAddress.decodeAddress(addressReader)
        let direction = r.enumeration("traffic_direction", TrafficDirection.self)
        _ = r.raw("metadata")
        let statPrefix = r.string("stat_prefix")
        let limit = r.uint32("per_connection_buffer_limit_bytes")
        let reusePort = r.bool("enable_reuse_port") ?? true
        let backlog = r.uint32("tcp_backlog_size", in: 1...65535)
        let listenerFilters = r.objects("listener_filters", "envoy.config.listener.v3.ListenerFilter").map(ListenerFilter.decode)
        let filtersTimeout = r.duration("listener_filters_timeout")
        let continueOnTimeout = r.bool("continue_on_listener_filters_timeout") ?? false
        let chainReaders = r.objects("filter_chains", "envoy.config.listener.v3.FilterChain")
        let defaultReader = r.object("default_filter_chain", "envoy.config.listener.v3.FilterChain")
        if chainReaders.isEmpty && defaultReader == nil {
            r.diagnostics.error(r.node.location, r.join("filter_chains"), "a listener needs a filter chain",
                                fix: "add filter_chains with an \(FilterChain.supportedFilters) filter")
            return nil
        }
        // Every chain is decoded so that all of its problems are reported.
        let decoded = chainReaders.map { FilterChain.decode($0, context: context) }
        let defaultChain = defaultReader.map { FilterChain.decode($0, context: context) }
        checkOverlaps(decoded.compactMap { $0 }, r.diagnostics)
        if case .some(.none) = defaultChain { return nil }
        guard let address, !decoded.contains(where: { $0 == nil }), !listenerFilters.contains(where: { $0 == nil }) else { return nil }
        var listener = Listener(name: name.isEmpty ? "listener_\(index)" : name, address: address, filterChains: decoded.compactMap { $0 })
        listener.defaultFilterChain = defaultChain ?? nil
        listener.listenerFilters = listenerFilters.compactMap { $0 }
        listener.listenerFiltersTimeout = filtersTimeout ?? .seconds(15)
        listener.continueOnListenerFiltersTimeout = continueOnTimeout
        listener.statPrefix = statPrefix
        listener.perConnectionBufferLimitBytes = limit ?? 1_048_576
        listener.enableReusePort = reusePort
        listener.backlog = backlog
        listener.trafficDirection = direction ?? .unspecified
        listener.location = r.node.location
        listener.path = r.path
        return listener
    }

    /// Envoy refuses two chains that could take the same connection: identical matches, or
    /// repeated fields (server names, ports, ranges) that overlap.
    static func checkOverlaps(_ chains: [FilterChain], _ diagnostics: DiagnosticCollector) {
        var seen: [String: FilterChain] = [:]
        for chain in chains {
            // A match whose repeated fields multiply past 100 000 combinations is compared whole.
            let combinations = chain.match.combinationCount <= 100_000 ? chain.match.combinations : ["\(chain.match)"]
            for combination in combinations {
                if let first = seen[combination] {
                    diagnostics.error(chain.matchLocation, "\(chain.path).filter_chain_match",
                                      "this filter chain matches the same connections as \(first.path) (line \(first.location.line)); Envoy refuses overlapping filter_chain_match rules",
                                      fix: "make the matches differ (server_names, destination_port, transport_protocol, ...) or remove one chain")
                    break
                }
                seen[combination] = chain
            }
        }
    }
}

/// `envoy.config.core.v3.TrafficDirection` (informational).
public enum TrafficDirection: String, ConfigEnum {
    case unspecified = "UNSPECIFIED", inbound = "INBOUND", outbound = "OUTBOUND"
    public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
}
