/// `envoy.config.listener.v3.Listener` with one filter chain holding an HTTP connection manager.
public struct Listener: Sendable {
    public var name: String
    public var address: SocketAddress
    /// Listener stats are rooted at `listener.<stat_prefix or address>`.
    public var statPrefix: String?
    public var httpConnectionManager: HttpConnectionManager
    public var perConnectionBufferLimitBytes: UInt32 = 1_048_576
    public var enableReusePort = true
    public var backlog: UInt32?
    /// `traffic_direction`: `/drain_listeners?inboundonly` stops only INBOUND listeners.
    public var trafficDirection: TrafficDirection = .unspecified
    /// The first filter chain's `transport_socket` (TlsContext+Decode.swift); nil = plain TCP.
    public var downstreamTls: DownstreamTlsContext?
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String, address: SocketAddress, httpConnectionManager: HttpConnectionManager) {
        self.name = name
        self.address = address
        self.httpConnectionManager = httpConnectionManager
    }

    /// `listener.<this>.downstream_cx_total`: the stat prefix, or the address with ':' as '_'.
    public var statName: String {
        if let statPrefix, !statPrefix.isEmpty { return statPrefix }
        return "\(address.address)_\(address.port)"
    }

    static let hcmNames: Set<String> = ["envoy.filters.network.http_connection_manager", "envoy.http_connection_manager"]

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
        let chains = r.objects("filter_chains", "envoy.config.listener.v3.FilterChain")
        if chains.isEmpty && !r.has("default_filter_chain") {
            r.diagnostics.error(r.node.location, r.join("filter_chains"), "a listener needs a filter chain",
                                fix: "add filter_chains with an envoy.filters.network.http_connection_manager filter")
            return nil
        }
        if chains.count > 1 {
            r.diagnostics.error(chains[1].node.location, chains[1].path,
                                "several filter chains need filter_chain_match, which is not supported yet by Ferry",
                                fix: "use one filter chain per listener")
        }
        var hcm: HttpConnectionManager?
        var tls: DownstreamTlsContext?
        // Every chain is decoded so that all of its problems are reported; only the first is used.
        for (chainIndex, chain) in chains.enumerated() {
            defer { chain.finish() }
            _ = chain.string("name")
            _ = chain.raw("metadata")
            let socket = DownstreamTlsContext.decode(transportSocketOf: chain, context: context)
            if chainIndex == 0 { tls = socket }
            let filters = chain.objects("filters", "envoy.config.listener.v3.Filter")
            if filters.isEmpty {
                chain.diagnostics.error(chain.node.location, chain.join("filters"), "the filter chain has no filters",
                                        fix: "add an envoy.filters.network.http_connection_manager filter")
            }
            for (i, f) in filters.enumerated() {
                defer { f.finish() }
                let filterName = f.requiredString("name") ?? ""
                guard let (url, config) = f.any("typed_config") else {
                    if !f.has("typed_config") {
                        f.diagnostics.error(f.node.location, f.join("typed_config"), "filter \(filterName) has no typed_config",
                                            fix: "add typed_config with \"@type\": type.googleapis.com/\(HttpConnectionManager.typeURL)")
                    }
                    continue
                }
                if url.hasSuffix("/" + HttpConnectionManager.typeURL) || (url == HttpConnectionManager.typeURL) {
                    if i != filters.count - 1 {
                        f.diagnostics.error(f.location(of: "name"), f.join("name"),
                                            "the HTTP connection manager must be the last network filter", fix: "move it to the end")
                    }
                    let decoded = HttpConnectionManager.decode(config, context: context)
                    if chainIndex == 0 { hcm = decoded }
                } else if !url.hasPrefix("type.googleapis.com/") {
                    f.diagnostics.error(f.valueLocation(of: "typed_config"), f.join("typed_config.@type"),
                                        "\"\(url)\" is not a type URL", fix: "write type.googleapis.com/<message name>")
                    config.accept(contentsOf: config.keys)
                } else if url.contains(".filters.network.") {
                    f.diagnostics.error(f.location(of: "name"), f.join("name"), "network filter \(filterName) (\(url)) is not supported yet by Ferry",
                                        fix: "use envoy.filters.network.http_connection_manager")
                    config.accept(contentsOf: config.keys)
                } else {
                    f.diagnostics.error(f.valueLocation(of: "typed_config"), f.join("typed_config.@type"),
                                        "unknown network filter type \(url)",
                                        fix: "use type.googleapis.com/\(HttpConnectionManager.typeURL)")
                    config.accept(contentsOf: config.keys)
                }
            }
        }
        guard let address, let manager = hcm else { return nil }
        var listener = Listener(name: name.isEmpty ? "listener_\(index)" : name, address: address, httpConnectionManager: manager)
        listener.statPrefix = statPrefix
        listener.perConnectionBufferLimitBytes = limit ?? 1_048_576
        listener.enableReusePort = reusePort
        listener.backlog = backlog
        listener.trafficDirection = direction ?? .unspecified
        listener.downstreamTls = tls
        listener.location = r.node.location
        listener.path = r.path
        return listener
    }
}

/// `envoy.config.core.v3.TrafficDirection` (informational).
public enum TrafficDirection: String, ConfigEnum {
    case unspecified = "UNSPECIFIED", inbound = "INBOUND", outbound = "OUTBOUND"
    public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
}
