import FerryConfig
import FerryTelemetry
import NIOCore

/// An immutable, compiled configuration. Workers hold the current one; a stream uses the
/// generation that was current when it started until it finishes, so a reload never changes a
/// request in flight.
public final class ConfigGeneration: Sendable {
    public let id: Int
    public let loaded: LoadedConfig
    let listeners: [CompiledListener]
    let clusters: [ClusterDefinition]
    let clusterIndex: [String: Int]
    /// Governance rules this generation's filters use (see `GovernanceRegistry`).
    let governanceKeys: Set<String>
    /// Runtime values of the bootstrap's static layers, flattened (see `RuntimeValues`).
    let runtime: [String: String]

    init(id: Int, loaded: LoadedConfig, listeners: [CompiledListener], clusters: [ClusterDefinition],
         governanceKeys: Set<String> = []) {
        self.governanceKeys = governanceKeys
        runtime = loaded.bootstrap.runtime.values(admin: [:])
        self.id = id
        self.loaded = loaded
        self.listeners = listeners
        self.clusters = clusters
        var index: [String: Int] = [:]
        for c in clusters { index[c.name] = c.index }
        clusterIndex = index
    }

    public var bootstrap: Bootstrap { loaded.bootstrap }
    public var listenerNames: [String] { listeners.map(\.name) }
    public var clusterNames: [String] { clusters.map(\.name) }

    func listener(named name: String) -> CompiledListener? { listeners.first { $0.name == name } }

    /// Connection counters by listener name, to carry into the next generation.
    var listenerConnections: [String: ListenerConnections] {
        var result: [String: ListenerConnections] = [:]
        for l in listeners { result[l.name] = l.connections }
        return result
    }
}

/// A listener ready to accept: its address, limits, listener filters and compiled filter chains.
final class CompiledListener: Sendable {
    let name: String
    let config: Listener
    /// `filter_chains` in order, then the default chain.
    let chains: [CompiledFilterChain]
    let selector: FilterChainSelector
    /// `envoy.filters.listener.tls_inspector` runs before the chain is chosen.
    let inspectsTLS: Bool
    /// `listener_filters_timeout`; nil waits forever.
    let filtersTimeout: TimeAmount?
    let stats: ListenerStats
    let tlsInspectorStats: TLSInspectorStats
    /// From runtime `envoy.resource_limits.listener.<name>.connection_limit`; nil = unlimited.
    let connectionLimit: Int?
    /// Open connections of this listener (shared across loops and reloads).
    let connections: ListenerConnections

    init(config: Listener, chains: [CompiledFilterChain], stats: ListenerStats, tlsInspectorStats: TLSInspectorStats,
         connectionLimit: Int?, connections: ListenerConnections) {
        name = config.name
        self.config = config
        self.chains = chains
        selector = FilterChainSelector(matches: config.filterChains.map(\.match), hasDefault: config.defaultFilterChain != nil)
        inspectsTLS = config.listenerFilters.contains(.tlsInspector)
        filtersTimeout = config.listenerFiltersTimeout == .zero ? nil : TimeAmount(config.listenerFiltersTimeout)
        self.stats = stats
        self.tlsInspectorStats = tlsInspectorStats
        self.connectionLimit = connectionLimit
        self.connections = connections
    }

    var address: FerryConfig.SocketAddress { config.address }

    /// The chain that serves a connection with these facts, or nil (no match, no default).
    func chain(for facts: ConnectionFacts) -> CompiledFilterChain? {
        selector.select(facts).map { chains[$0] }
    }

    /// This generation's version of a chain a connection was given by an earlier one.
    func chain(key: String) -> CompiledFilterChain? { chains.first { $0.key == key } }
}
