/// `envoy.config.listener.v3.FilterChainMatch`: which connections a filter chain takes. An empty
/// field matches anything; the listener picks the most specific chain level by level, in
/// Envoy's order (see `FilterChainSelector` in FerryProxy). Server names are kept lower-case,
/// as Envoy compares them; a wildcard is only a leading `*.`.
public struct FilterChainMatch: Sendable, Hashable {
    /// Envoy's `ConnectionSourceType`.
    public enum SourceType: String, ConfigEnum {
        case any = "ANY", sameIPOrLoopback = "SAME_IP_OR_LOOPBACK", external = "EXTERNAL"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public var destinationPort: UInt32?
    public var prefixRanges: [CidrRange] = []
    public var serverNames: [String] = []
    public var transportProtocol = ""
    public var applicationProtocols: [String] = []
    public var directSourcePrefixRanges: [CidrRange] = []
    public var sourceType: SourceType = .any
    public var sourcePrefixRanges: [CidrRange] = []
    public var sourcePorts: [UInt32] = []

    public init() {}

    /// True when the chain needs what only a listener filter can tell: the SNI, ALPN, or a
    /// transport protocol other than `raw_buffer`.
    public var needsTLSInspection: Bool {
        !serverNames.isEmpty || !applicationProtocols.isEmpty || (!transportProtocol.isEmpty && transportProtocol != "raw_buffer")
    }

    static func decode(_ r: ObjectReader) -> FilterChainMatch {
        defer { r.finish() }
        var match = FilterChainMatch()
        match.destinationPort = r.uint32("destination_port", in: 1...65535)
        match.prefixRanges = r.objects("prefix_ranges", "envoy.config.core.v3.CidrRange").compactMap { CidrRange.decode($0) }
        match.directSourcePrefixRanges = r.objects("direct_source_prefix_ranges", "envoy.config.core.v3.CidrRange")
            .compactMap { CidrRange.decode($0) }
        match.sourcePrefixRanges = r.objects("source_prefix_ranges", "envoy.config.core.v3.CidrRange").compactMap { CidrRange.decode($0) }
        match.sourceType = r.enumeration("source_type", SourceType.self) ?? .any
        for element in r.list("source_ports") {
            guard let text = element.node.scalarText, let port = UInt32(text), (1...65535).contains(port) else {
                r.diagnostics.error(element.node.location, element.path, "expected a port number from 1 to 65535",
                                    fix: "write each source port as a number, e.g. source_ports: [5000]")
                continue
            }
            match.sourcePorts.append(port)
        }
        for (name, location) in r.strings("server_names") {
            // Envoy refuses partial wildcards ("www.*.com", "*example.com"): it cannot match them.
            if name.contains("*") && !(name.hasPrefix("*.") && !name.dropFirst().contains("*") && name.count > 2) {
                r.diagnostics.error(location, r.join("server_names"), "\"\(name)\" is a partial wildcard, which Envoy does not match",
                                    fix: "use an exact name or a leading wildcard such as *.example.com")
                continue
            }
            match.serverNames.append(name.lowercased())
        }
        match.transportProtocol = r.string("transport_protocol") ?? ""
        match.applicationProtocols = r.strings("application_protocols").map(\.value)
        // address_suffix and suffix_len are in the API but Envoy refuses them ("unimplemented
        // fields"); finish() reports them as not supported.
        return match
    }

    var combinationCount: Int {
        [prefixRanges.count, serverNames.count, applicationProtocols.count, directSourcePrefixRanges.count,
         sourcePrefixRanges.count, sourcePorts.count].reduce(1) { product, count in
            let (next, overflow) = product.multipliedReportingOverflow(by: max(count, 1))
            return overflow ? Int.max : next
        }
    }

    /// The single-valued combinations this match covers, one per element of each repeated
    /// field (an empty field is one wildcard element). Two chains that share a combination
    /// overlap, which Envoy refuses; a listener's few chains keep this product small.
    var combinations: [String] {
        func values<T>(_ list: [T], _ text: (T) -> String) -> [String] { list.isEmpty ? ["*"] : list.map(text) }
        let cidr = { (c: CidrRange) in "\(c.network.bytes)/\(c.length)" }
        let levels: [[String]] = [
            [destinationPort.map(String.init) ?? "*"], values(prefixRanges, cidr), values(serverNames) { $0 },
            [transportProtocol.isEmpty ? "*" : transportProtocol], values(applicationProtocols) { $0 },
            values(directSourcePrefixRanges, cidr), [sourceType.protoName], values(sourcePrefixRanges, cidr),
            values(sourcePorts) { String($0) },
        ]
        return levels.reduce([""]) { partial, level in partial.flatMap { prefix in level.map { prefix + "|" + $0 } } }
    }
}
