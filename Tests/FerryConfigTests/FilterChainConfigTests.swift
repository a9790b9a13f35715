@testable import FerryConfig
import Testing

/// Listener filters, filter chains with `filter_chain_match`, `default_filter_chain` and the
/// `tcp_proxy` network filter: what decodes, and every error with its location and fix.
@Suite("Filter chains, listener filters and tcp_proxy config")
struct FilterChainConfigTests {
    static let listenerPath = "static_resources.listeners[0]"
    static let tcpType = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
    static let inspector = """
        listener_filters:
        - name: envoy.filters.listener.tls_inspector
          typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector}
        """

    /// A tcp_proxy chain to `cluster`, with `match` as its filter_chain_match and `fields` added to the proxy.
    static func chain(_ match: String? = nil, cluster: String = "backend", fields: String = "") -> String {
        var text = "- "
        if let match { text += "filter_chain_match: \(match)\n  " }
        text += """
            filters:
              - name: envoy.filters.network.tcp_proxy
                typed_config:
                  "@type": \(tcpType)
                  stat_prefix: tcp
                  cluster: \(cluster)

            """
        for line in fields.split(separator: "\n") { text += "      \(line)\n" }
        return text
    }

    /// One listener with `listenerFields` (indented under it) and `chains` (list items).
    static func yaml(_ chains: String, listenerFields: String = "") -> String {
        var text = """
            static_resources:
              listeners:
              - name: l4
                address: {socket_address: {address: 127.0.0.1, port_value: 10000}}

            """
        for line in listenerFields.split(separator: "\n") { text += "    \(line)\n" }
        text += "    filter_chains:\n"
        for line in chains.split(separator: "\n") { text += "    \(line)\n" }
        text += "  clusters:\n"
        for line in Fixture.backendCluster.split(separator: "\n") { text += "  \(line)\n" }
        return text
    }

    @Test("chains decode with their matches, the tls_inspector and the listener filter timeout settings")
    func decodes() throws {
        let text = Self.yaml(
            Self.chain("{server_names: [A.Example.com, \"*.example.org\"], transport_protocol: tls, destination_port: 443}")
                + Self.chain("{application_protocols: [h2], source_type: SAME_IP_OR_LOOPBACK, source_ports: [5000], prefix_ranges: [{address_prefix: 10.0.0.0, prefix_len: 8}]}"),
            listenerFields: Self.inspector + "\nlistener_filters_timeout: 2s\ncontinue_on_listener_filters_timeout: true")
        let listener = try #require(Fixture.load(text)?.listeners.only)
        #expect(listener.listenerFilters == [.tlsInspector])
        #expect(listener.listenerFiltersTimeout == .seconds(2) && listener.continueOnListenerFiltersTimeout)
        #expect(listener.filterChains.count == 2 && listener.defaultFilterChain == nil)
        let first = listener.filterChains[0].match
        #expect(first.serverNames == ["a.example.com", "*.example.org"])
        #expect(first.transportProtocol == "tls" && first.destinationPort == 443)
        let second = listener.filterChains[1].match
        #expect(second.applicationProtocols == ["h2"] && second.sourceType == .sameIPOrLoopback && second.sourcePorts == [5000])
        #expect(second.prefixRanges == [CidrRange(prefix: "10.0.0.0", length: 8)!])
        #expect(listener.filterChains[1].tcpProxy?.statPrefix == "tcp")
        #expect(listener.httpConnectionManager == nil)
    }

    @Test("tcp_proxy defaults as Envoy: idle timeout 1 h, one connect attempt, no duration limit")
    func tcpProxyDefaults() throws {
        let proxy = try #require(Fixture.load(Self.yaml(Self.chain()))?.listeners.only?.filterChains.only?.tcpProxy)
        #expect(proxy.idleTimeout == .seconds(3600) && proxy.maxConnectAttempts == 1)
        #expect(proxy.maxDownstreamConnectionDuration == nil && proxy.accessLogs.isEmpty)
        guard case .cluster("backend") = proxy.target else {
            Issue.record("target \(proxy.target)")
            return
        }
        let fields = """
            idle_timeout: 0s
            max_connect_attempts: 3
            max_downstream_connection_duration: 30s
            """
        let set = try #require(Fixture.load(Self.yaml(Self.chain(fields: fields)))?.listeners.only?.filterChains.only?.tcpProxy)
        #expect(set.idleTimeout == .zero && set.maxConnectAttempts == 3 && set.maxDownstreamConnectionDuration == .seconds(30))
    }

    @Test("weighted_clusters decode; a weight of 0 is an error (Envoy requires at least 1)")
    func weighted() throws {
        let weighted = Self.chain(cluster: "backend", fields: "").replacingOccurrences(
            of: "cluster: backend", with: "weighted_clusters: {clusters: [{name: backend, weight: 3}, {name: backend, weight: 0}]}")
        Fixture.expectOneError(Self.yaml(weighted), at: "0}", after: "weight: 0", path: "\(Self.listenerPath).filter_chains[0].filters[0].typed_config.weighted_clusters.clusters[1].weight",
                               message: "0 is out of range 1...")
        let good = weighted.replacingOccurrences(of: "weight: 0", with: "weight: 1")
        let proxy = try #require(Fixture.load(Self.yaml(good))?.listeners.only?.filterChains.only?.tcpProxy)
        guard case .weighted(let weights) = proxy.target else {
            Issue.record("target \(proxy.target)")
            return
        }
        #expect(weights.map(\.weight) == [3, 1])
    }

    @Test("a default_filter_chain alone is a listener")
    func defaultChainOnly() throws {
        let text = Self.yaml("").replacingOccurrences(of: "    filter_chains:\n", with: "    default_filter_chain:\n" + Self.chain().split(separator: "\n").map { "      " + $0.dropFirst(2) }.joined(separator: "\n") + "\n")
        let listener = try #require(Fixture.load(text)?.listeners.only)
        #expect(listener.filterChains.isEmpty && listener.defaultFilterChain?.tcpProxy != nil)
    }

    @Test("two chains with the same match are refused, as Envoy does")
    func duplicateMatch() {
        let text = Self.yaml(Self.chain("{server_names: [a.example.com]}") + Self.chain("{server_names: [a.example.com]}"))
        Fixture.expectOneError(text, at: "filter_chain_match", occurrence: 2, path: "\(Self.listenerPath).filter_chains[1].filter_chain_match",
                               message: "matches the same connections as \(Self.listenerPath).filter_chains[0]")
    }

    @Test("chains whose repeated fields overlap are refused too; differing in one level is fine")
    func overlappingMatch() {
        let overlap = Self.yaml(Self.chain("{server_names: [a.example.com, b.example.com]}") + Self.chain("{server_names: [c.example.com, B.example.com]}"))
        Fixture.expectOneError(overlap, at: "filter_chain_match", occurrence: 2, path: "\(Self.listenerPath).filter_chains[1].filter_chain_match",
                               message: "matches the same connections")
        let distinct = Self.yaml(Self.chain("{server_names: [a.example.com], destination_port: 443}") + Self.chain("{server_names: [a.example.com]}")
                                 + Self.chain())
        #expect(Fixture.errors(distinct).isEmpty)
        let twoCatchAll = Self.yaml(Self.chain() + Self.chain())
        Fixture.expectOneError(twoCatchAll, at: "filters:", occurrence: 2, path: "\(Self.listenerPath).filter_chains[1].filter_chain_match",
                               message: "matches the same connections")
    }

    @Test("a listener filter other than tls_inspector is not supported yet")
    func unknownListenerFilter() {
        let text = Self.yaml(Self.chain(), listenerFields: """
            listener_filters:
            - name: envoy.filters.listener.proxy_protocol
              typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol}
            """)
        Fixture.expectOneError(text, at: "name: envoy.filters.listener.proxy_protocol", path: "\(Self.listenerPath).listener_filters[0].name",
                               message: "listener filter envoy.filters.listener.proxy_protocol is not supported yet by Ferry")
    }

    @Test("tls_inspector settings (JA3, buffer sizes) are not supported yet")
    func inspectorSettings() {
        let text = Self.yaml(Self.chain(), listenerFields: Self.inspector.replacingOccurrences(of: "TlsInspector}", with: "TlsInspector, enable_ja3_fingerprinting: true}"))
        Fixture.expectOneError(text, at: "enable_ja3_fingerprinting", path: "\(Self.listenerPath).listener_filters[0].typed_config.enable_ja3_fingerprinting",
                               message: "TlsInspector.enable_ja3_fingerprinting is not supported yet by Ferry")
    }

    @Test("a chain without filters is an error")
    func chainWithoutFilters() {
        let text = Self.yaml("- filter_chain_match: {destination_port: 80}\n  filters: []\n")
        Fixture.expectOneError(text, at: "filter_chain_match", path: "\(Self.listenerPath).filter_chains[0].filters",
                               message: "the filter chain has no filters")
    }

    @Test("each filter chain has its own transport_socket: TLS on one chain, plaintext on the other")
    func transportSocketPerChain() throws {
        let tls = """
              transport_socket:
                name: envoy.transport_sockets.tls
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
                  common_tls_context:
                    tls_certificates:
                    - certificate_chain: {inline_string: "\(TlsConfigTests.pem)"}
                      private_key: {inline_string: "\(TlsConfigTests.keyPEM)"}

            """
        let text = Self.yaml(Self.chain("{destination_port: 443}") + tls + Self.chain("{destination_port: 80}"))
        let listener = try #require(Fixture.load(text)?.listeners.first)
        #expect(listener.filterChains.count == 2)
        #expect(listener.filterChains[0].transportSocket?.common.certificate != nil)
        #expect(listener.filterChains[1].transportSocket == nil)
    }

    @Test("match fields Envoy refuses or Ferry lacks, and partial wildcards, are errors", arguments: [
        ("{address_suffix: x}", "address_suffix", "FilterChainMatch.address_suffix is not supported yet"),
        ("{server_names: [\"www.*.com\"]}", "\"www.*.com\"", "partial wildcard"),
        ("{server_names: [\"*example.com\"]}", "\"*example.com\"", "partial wildcard"),
        ("{destination_port: 70000}", "70000", "out of range 1...65535"),
        ("{source_ports: [x]}", "x]", "expected a port number"),
        ("{source_type: LOCAL}", "LOCAL", "unknown value \"LOCAL\""),
    ])
    func badMatch(match: String, needle: String, message: String) {
        let text = Self.yaml(Self.chain(match))
        let error = Fixture.errors(text).only
        #expect(error?.message.contains(message) == true, "\(Fixture.errors(text))")
        #expect(error?.location == Fixture.location(of: needle, in: text, after: "filter_chain_match"))
        #expect(error?.fix?.isEmpty == false)
    }

    @Test("tcp_proxy fields Ferry lacks are refused by name; required fields are required", arguments: [
        ("tunneling_config: {hostname: x}", "tunneling_config", "TcpProxy.tunneling_config is not supported yet by Ferry"),
        ("hash_policy: []", "hash_policy", "TcpProxy.hash_policy is not supported yet by Ferry"),
        ("max_downstream_connection_duration: 0.0001s", "0.0001s", "must be at least 1ms"),
        ("max_connect_attempts: 0", "0", "out of range 1..."),
        ("cluster_name: x", "cluster_name", "unknown field \"cluster_name\""),
    ])
    func badTcpProxy(fields: String, needle: String, message: String) {
        let text = Self.yaml(Self.chain(fields: fields))
        let error = Fixture.errors(text).only
        #expect(error?.message.contains(message) == true, "\(Fixture.errors(text))")
        #expect(error?.location == Fixture.location(of: needle, in: text, after: "stat_prefix"))
        #expect(error?.path.hasPrefix("\(Self.listenerPath).filter_chains[0].filters[0].typed_config.") == true)
    }

    @Test("tcp_proxy needs stat_prefix and one of cluster or weighted_clusters")
    func tcpProxyRequired() {
        let noPrefix = Self.yaml(Self.chain().replacingOccurrences(of: "stat_prefix: tcp\n      ", with: ""))
        Fixture.expectOneError(noPrefix, at: "\"@type\": \(Self.tcpType)", path: "\(Self.listenerPath).filter_chains[0].filters[0].typed_config.stat_prefix",
                               message: "required field is missing")
        let both = Self.yaml(Self.chain(fields: "weighted_clusters: {clusters: [{name: backend, weight: 1}]}"))
        Fixture.expectOneError(both, at: "weighted_clusters", path: "\(Self.listenerPath).filter_chains[0].filters[0].typed_config.weighted_clusters",
                               message: "only one of cluster, weighted_clusters may be set")
    }

    @Test("a tcp_proxy to an undefined cluster loads with a warning (Envoy closes its connections: downstream_cx_no_route)")
    func unknownClusterWarns() {
        let text = Self.yaml(Self.chain(cluster: "bakend"))
        #expect(Fixture.errors(text).isEmpty)
        let warning = Fixture.diagnostics(text).first { $0.severity == .warning }
        #expect(warning?.message.contains("tcp_proxy names cluster \"bakend\", which is not defined") == true)
        #expect(warning?.message.contains("did you mean \"backend\"") == true)
        #expect(warning?.location == Fixture.location(of: "bakend", in: text))
    }

    @Test("another network filter is not supported yet, and the terminal filter must come last")
    func otherNetworkFilters() {
        let redis = Self.chain().replacingOccurrences(of: "- name: envoy.filters.network.tcp_proxy", with: """
            - name: envoy.filters.network.redis_proxy
                typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy}
              - name: envoy.filters.network.tcp_proxy
            """)
        let errors = Fixture.errors(Self.yaml(redis))
        #expect(errors.contains { $0.message.contains("network filter envoy.filters.network.redis_proxy") && $0.message.contains("not supported yet") })
        let twoTerminals = Self.chain().replacingOccurrences(of: "- name: envoy.filters.network.tcp_proxy", with: """
            - name: first
                typed_config: {"@type": \(Self.tcpType), stat_prefix: a, cluster: backend}
              - name: envoy.filters.network.tcp_proxy
            """)
        Fixture.expectOneError(Self.yaml(twoTerminals), at: "name: first", path: "\(Self.listenerPath).filter_chains[0].filters[0].name",
                               message: "envoy.filters.network.tcp_proxy is a terminal filter and must be the last network filter")
    }
}
