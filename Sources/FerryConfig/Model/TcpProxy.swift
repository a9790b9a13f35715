/// `envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`: the L4 proxy. Bytes go both ways
/// between the downstream connection and one upstream connection to a host of the cluster.
public struct TcpProxy: Sendable {
    public static let typeURL = "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"

    public enum Target: Sendable {
        case cluster(String)
        /// Each connection picks a cluster by weight (`weighted_clusters`).
        case weighted([ClusterWeight])

        public var clusterNames: [String] {
            switch self {
            case .cluster(let name): return [name]
            case .weighted(let weights): return weights.map(\.name)
            }
        }
    }

    /// Stats are rooted at `tcp.<stat_prefix>.`.
    public var statPrefix: String
    public var target: Target
    /// No bytes either way for this long closes both connections (`idle_timeout` counter).
    /// Envoy's default is 1 hour; zero disables it.
    public var idleTimeout: Duration = .seconds(3600)
    /// Connect attempts before giving up (default 1: no retry). Each attempt picks a host again.
    public var maxConnectAttempts: UInt32 = 1
    public var accessLogs: [AccessLog] = []
    /// The downstream connection closes this long after it was accepted; nil = no limit.
    public var maxDownstreamConnectionDuration: Duration?
    /// Where `cluster`/`weighted_clusters` was written, for cross-reference messages.
    public var targetLocation: SourceLocation = .unknown
    public var targetPath: String = ""
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(statPrefix: String, target: Target) {
        self.statPrefix = statPrefix
        self.target = target
    }

    static func decode(_ r: ObjectReader, context: DecodeContext) -> TcpProxy? {
        defer { r.finish() }
        let statPrefix = r.requiredString("stat_prefix", fix: "add `stat_prefix: tcp` (stats are named tcp.<stat_prefix>.*)")
        var target: Target?
        let targetKey = r.oneOf(["cluster", "weighted_clusters"], required: true, what: "upstream cluster")
        switch targetKey {
        case "cluster":
            target = r.requiredString("cluster", fix: "name the cluster connections go to").map { .cluster($0) }
        case "weighted_clusters":
            if let weighted = r.object("weighted_clusters", "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster") {
                target = decodeWeighted(weighted).map { .weighted($0) }
            }
        default: break
        }
        var proxy = TcpProxy(statPrefix: statPrefix ?? "", target: target ?? .cluster(""))
        proxy.targetLocation = r.valueLocation(of: targetKey ?? "cluster")
        proxy.targetPath = r.join(targetKey ?? "cluster")
        proxy.idleTimeout = r.duration("idle_timeout") ?? .seconds(3600)
        proxy.maxConnectAttempts = r.uint32("max_connect_attempts", in: 1...Int64(UInt32.max),
                                            fix: "use 1 (no retry) or more attempts") ?? 1
        proxy.accessLogs = r.objects("access_log", "envoy.config.accesslog.v3.AccessLog").compactMap { AccessLog.decode($0, context: context) }
        if let duration = r.duration("max_downstream_connection_duration") {
            if duration < .milliseconds(1) {
                r.diagnostics.error(r.valueLocation(of: "max_downstream_connection_duration"), r.join("max_downstream_connection_duration"),
                                    "must be at least 1ms (as in Envoy)", fix: "use a duration such as \"60s\", or remove it for no limit")
            } else {
                proxy.maxDownstreamConnectionDuration = duration
            }
        }
        proxy.location = r.node.location
        proxy.path = r.path
        guard statPrefix != nil, target != nil else { return nil }
        return proxy
    }

    static func decodeWeighted(_ r: ObjectReader) -> [ClusterWeight]? {
        defer { r.finish() }
        var clusters: [ClusterWeight] = []
        for c in r.objects("clusters", "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy.WeightedCluster.ClusterWeight") {
            defer { c.finish() }
            let name = c.requiredString("name", fix: "name the cluster this share goes to")
            let weight = c.uint32("weight", in: 1...Int64(UInt32.max), fix: "give the cluster a weight of 1 or more")
            if !c.has("weight") {
                c.diagnostics.error(c.node.location, c.join("weight"), "required field is missing",
                                    fix: "add `weight: 1` (or more) to this cluster")
            }
            guard let name, let weight else { continue }
            var entry = ClusterWeight(name: name, weight: weight)
            entry.location = c.valueLocation(of: "name")
            entry.path = c.join("name")
            clusters.append(entry)
        }
        return ClusterWeight.checkShares(clusters, r)
    }
}
