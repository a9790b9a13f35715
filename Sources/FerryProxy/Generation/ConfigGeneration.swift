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

/// A listener ready to accept: its address, limits and compiled connection manager.
final class CompiledListener: Sendable {
    let name: String
    let config: Listener
    let hcm: CompiledHCM
    let stats: ListenerStats
    /// From runtime `envoy.resource_limits.listener.<name>.connection_limit`; nil = unlimited.
    let connectionLimit: Int?
    /// Open connections of this listener (shared across loops and reloads).
    let connections: ListenerConnections
    /// TLS termination (the first filter chain's transport_socket); nil = plain TCP.
    let tls: CompiledDownstreamTLS?

    init(config: Listener, hcm: CompiledHCM, stats: ListenerStats, connectionLimit: Int?, connections: ListenerConnections,
         tls: CompiledDownstreamTLS? = nil) {
        self.tls = tls
        name = config.name
        self.config = config
        self.hcm = hcm
        self.stats = stats
        self.connectionLimit = connectionLimit
        self.connections = connections
    }

    var address: FerryConfig.SocketAddress { config.address }
}
