import FerryConfig
import FerryTelemetry

/// `/listeners?format=json` lists each listener's filter chains (a Ferry addition to Envoy's
/// listener_statuses): name, terminal network filter, the match fields that are set, and
/// whether it is the default chain.
extension AdminAPI {
    static func filterChainsJSON(_ listener: Listener) -> String {
        let chains = listener.filterChains.map { chainJSON($0, isDefault: false) }
            + (listener.defaultFilterChain.map { [chainJSON($0, isDefault: true)] } ?? [])
        return "[" + chains.joined(separator: ",") + "]"
    }

    static func chainJSON(_ chain: FilterChain, isDefault: Bool) -> String {
        "{\"name\":\(JSON.quote(chain.name)),\"filter\":\(JSON.quote(chain.filter.name)),"
            + "\"filter_chain_match\":\(matchJSON(chain.match)),\"default\":\(isDefault)}"
    }

    static func matchJSON(_ m: FilterChainMatch) -> String {
        func strings(_ list: [String]) -> String { "[" + list.map(JSON.quote).joined(separator: ",") + "]" }
        func ranges(_ list: [CidrRange]) -> String {
            strings(list.map { range in
                let bytes = range.prefix.bytes
                let text = range.prefix.isV4 ? bytes.map(String.init).joined(separator: ".")
                    : stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }.joined(separator: ":")
                return "\(text)/\(range.length)"
            })
        }
        var fields: [String] = []
        if let port = m.destinationPort { fields.append("\"destination_port\":\(port)") }
        if !m.prefixRanges.isEmpty { fields.append("\"prefix_ranges\":\(ranges(m.prefixRanges))") }
        if !m.serverNames.isEmpty { fields.append("\"server_names\":\(strings(m.serverNames))") }
        if !m.transportProtocol.isEmpty { fields.append("\"transport_protocol\":\(JSON.quote(m.transportProtocol))") }
        if !m.applicationProtocols.isEmpty { fields.append("\"application_protocols\":\(strings(m.applicationProtocols))") }
        if !m.directSourcePrefixRanges.isEmpty { fields.append("\"direct_source_prefix_ranges\":\(ranges(m.directSourcePrefixRanges))") }
        if m.sourceType != .any { fields.append("\"source_type\":\(JSON.quote(m.sourceType.protoName))") }
        if !m.sourcePrefixRanges.isEmpty { fields.append("\"source_prefix_ranges\":\(ranges(m.sourcePrefixRanges))") }
        if !m.sourcePorts.isEmpty { fields.append("\"source_ports\":[\(m.sourcePorts.map(String.init).joined(separator: ","))]") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
