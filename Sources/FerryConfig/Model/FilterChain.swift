/// `envoy.config.listener.v3.FilterChain`: the connections it takes (`filter_chain_match`), the
/// terminal network filter that serves them, and (later) the transport socket that decrypts them.
public struct FilterChain: Sendable {
    /// The chain's terminal network filter. Ferry runs exactly one per chain.
    public enum NetworkFilter: Sendable {
        case httpConnectionManager(HttpConnectionManager)
        case tcpProxy(TcpProxy)

        /// Envoy's filter name, as `/listeners` shows it.
        public var name: String {
            switch self {
            case .httpConnectionManager: return "envoy.filters.network.http_connection_manager"
            case .tcpProxy: return "envoy.filters.network.tcp_proxy"
            }
        }
    }

    public var name: String = ""
    public var match = FilterChainMatch()
    public var filter: NetworkFilter
    /// `transport_socket`: TLS termination (`envoy.transport_sockets.tls`); nil is plaintext
    /// (Envoy's `raw_buffer`).
    public var transportSocket: DownstreamTlsContext?
    /// `transport_socket_connect_timeout`: how long a connection may take to complete its
    /// transport socket's handshake; nil waits forever (Envoy's default).
    public var transportSocketConnectTimeout: Duration?
    /// Where `filter_chain_match` is written (the chain itself when it has none).
    public var matchLocation: SourceLocation = .unknown
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(filter: NetworkFilter) { self.filter = filter }

    public var httpConnectionManager: HttpConnectionManager? {
        if case .httpConnectionManager(let hcm) = filter { return hcm }
        return nil
    }

    public var tcpProxy: TcpProxy? {
        if case .tcpProxy(let proxy) = filter { return proxy }
        return nil
    }

    static let supportedFilters = "envoy.filters.network.http_connection_manager or envoy.filters.network.tcp_proxy"

    /// Decodes one chain, reporting every problem; nil when it cannot serve.
    static func decode(_ chain: ObjectReader, context: DecodeContext) -> FilterChain? {
        defer { chain.finish() }
        let name = chain.string("name") ?? ""
        _ = chain.raw("metadata")
        let match = chain.object("filter_chain_match", "envoy.config.listener.v3.FilterChainMatch").map(FilterChainMatch.decode)
        let transportSocket = DownstreamTlsContext.decode(transportSocketOf: chain, context: context)
        let connectTimeout = chain.duration("transport_socket_connect_timeout", positive: true,
                                            fix: "use a positive duration such as 10s, or remove it to wait without limit")
        let filters = chain.objects("filters", "envoy.config.listener.v3.Filter")
        if filters.isEmpty {
            chain.diagnostics.error(chain.node.location, chain.join("filters"), "the filter chain has no filters",
                                    fix: "add an \(supportedFilters) filter")
        }
        var terminal: NetworkFilter?
        for (i, f) in filters.enumerated() {
            guard let decoded = decodeFilter(f, context: context) else { continue }
            if i != filters.count - 1 {
                f.diagnostics.error(f.location(of: "name"), f.join("name"),
                                    "\(decoded.name) is a terminal filter and must be the last network filter", fix: "move it to the end")
            }
            terminal = decoded
        }
        guard let terminal else { return nil }
        var result = FilterChain(filter: terminal)
        result.name = name
        result.match = match ?? FilterChainMatch()
        result.transportSocket = transportSocket
        result.transportSocketConnectTimeout = connectTimeout
        result.location = chain.node.location
        result.matchLocation = chain.location(of: "filter_chain_match")
        result.path = chain.path
        return result
    }

    private static func decodeFilter(_ f: ObjectReader, context: DecodeContext) -> NetworkFilter? {
        defer { f.finish() }
        let filterName = f.requiredString("name") ?? ""
        guard let (url, config) = f.any("typed_config") else {
            if !f.has("typed_config") {
                let type = filterName.hasSuffix("tcp_proxy") ? TcpProxy.typeURL : HttpConnectionManager.typeURL
                f.diagnostics.error(f.node.location, f.join("typed_config"), "filter \(filterName) has no typed_config",
                                    fix: "add typed_config with \"@type\": type.googleapis.com/\(type)")
            }
            return nil
        }
        if url.hasSuffix("/" + HttpConnectionManager.typeURL) || url == HttpConnectionManager.typeURL {
            return HttpConnectionManager.decode(config, context: context).map { .httpConnectionManager($0) }
        }
        if url.hasSuffix("/" + TcpProxy.typeURL) || url == TcpProxy.typeURL {
            return TcpProxy.decode(config, context: context).map { .tcpProxy($0) }
        }
        config.accept(contentsOf: config.keys)
        if !url.hasPrefix("type.googleapis.com/") {
            f.diagnostics.error(f.valueLocation(of: "typed_config"), f.join("typed_config.@type"),
                                "\"\(url)\" is not a type URL", fix: "write type.googleapis.com/<message name>")
        } else if url.contains(".filters.network.") {
            f.diagnostics.error(f.location(of: "name"), f.join("name"), "network filter \(filterName) (\(url)) is not supported yet by Ferry",
                                fix: "use \(supportedFilters)")
        } else {
            f.diagnostics.error(f.valueLocation(of: "typed_config"), f.join("typed_config.@type"),
                                "unknown network filter type \(url)",
                                fix: "use type.googleapis.com/\(HttpConnectionManager.typeURL) or type.googleapis.com/\(TcpProxy.typeURL)")
        }
        return nil
    }
}
