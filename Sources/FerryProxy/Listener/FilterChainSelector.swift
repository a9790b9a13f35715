import FerryConfig
import NIOCore

/// What a listener knows about a connection when it chooses a filter chain: its addresses,
/// and what the listener filters found (the TLS inspector's SNI, ALPN and transport protocol).
struct ConnectionFacts: Sendable {
    var destinationIP: IPAddressBytes?
    var destinationPort: Int
    var sourceIP: IPAddressBytes?
    var sourcePort: Int
    /// Lower-case SNI; "" when none (no TLS inspector, no TLS, or no extension).
    var serverName = ""
    /// `tls` when the TLS inspector found a ClientHello; `raw_buffer` otherwise (as Envoy sets
    /// it when no listener filter did).
    var transportProtocol = "raw_buffer"
    var applicationProtocols: [String] = []

    init(destinationIP: IPAddressBytes?, destinationPort: Int, sourceIP: IPAddressBytes?, sourcePort: Int) {
        self.destinationIP = destinationIP
        self.destinationPort = destinationPort
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
    }

    init(local: NIOCore.SocketAddress?, remote: NIOCore.SocketAddress?) {
        self.init(destinationIP: local?.ipAddress.flatMap { IPAddressBytes($0) }, destinationPort: local?.port ?? 0,
                  sourceIP: remote?.ipAddress.flatMap { IPAddressBytes($0) }, sourcePort: remote?.port ?? 0)
    }

    mutating func apply(_ hello: ClientHello) {
        transportProtocol = "tls"
        serverName = hello.serverName ?? ""
        applicationProtocols = hello.applicationProtocols
    }
}

/// Envoy's filter chain choice (`FilterChainManagerImpl::findFilterChain`): level by level —
/// destination port, destination IP, server name, transport protocol, application protocols,
/// direct source IP, source type, source IP, source port — the most specific value that
/// matches wins (an exact port over none, the longest CIDR, an exact name over the longest
/// `*.` suffix over none, ...), and only chains that won a level go on to the next. A level
/// where none of them fits ends the search: the default chain, if any, takes the connection,
/// even if a less specific branch of an earlier level would have matched (Envoy does not
/// backtrack). The validator guarantees that at most one chain is left at the end.
struct FilterChainSelector: Sendable {
    let matches: [FilterChainMatch]
    let hasDefault: Bool
    /// One chain that matches everything: no search at all (the common case).
    let onlyCatchAll: Bool

    init(matches: [FilterChainMatch], hasDefault: Bool) {
        self.matches = matches
        self.hasDefault = hasDefault
        onlyCatchAll = matches.count == 1 && matches[0] == FilterChainMatch()
    }

    /// The index of the chosen chain in `matches`, `matches.count` for the default chain, or
    /// nil when nothing takes the connection.
    func select(_ facts: ConnectionFacts) -> Int? {
        if onlyCatchAll { return 0 }
        let fallback = hasDefault ? matches.count : nil
        var c = Array(matches.indices)
        func narrow(_ exact: (FilterChainMatch) -> Bool, else empty: (FilterChainMatch) -> Bool) {
            let hits = c.filter { exact(matches[$0]) }
            c = hits.isEmpty ? c.filter { empty(matches[$0]) } : hits
        }
        narrow({ $0.destinationPort == UInt32(facts.destinationPort) }, else: { $0.destinationPort == nil })
        longestPrefix(&c, \.prefixRanges, facts.destinationIP)
        selectServerName(&c, facts.serverName)
        narrow({ !$0.transportProtocol.isEmpty && $0.transportProtocol == facts.transportProtocol }, else: { $0.transportProtocol.isEmpty })
        let alpn = facts.applicationProtocols.lazy.map { name in c.filter { self.matches[$0].applicationProtocols.contains(name) } }
        c = alpn.first { !$0.isEmpty } ?? c.filter { matches[$0].applicationProtocols.isEmpty }
        longestPrefix(&c, \.directSourcePrefixRanges, facts.sourceIP)
        selectSourceType(&c, facts)
        longestPrefix(&c, \.sourcePrefixRanges, facts.sourceIP)
        narrow({ $0.sourcePorts.contains(UInt32(facts.sourcePort)) }, else: { $0.sourcePorts.isEmpty })
        return c.first ?? fallback
    }

    /// Keeps the chains whose range containing `ip` is the longest; a chain without ranges
    /// is the catch-all (length 0). Without an IP (a Unix socket) only catch-alls match.
    private func longestPrefix(_ c: inout [Int], _ ranges: KeyPath<FilterChainMatch, [CidrRange]>, _ ip: IPAddressBytes?) {
        var best = -1
        var kept: [Int] = []
        for index in c {
            let list = matches[index][keyPath: ranges]
            let length: Int
            if list.isEmpty {
                length = 0
            } else if let ip, let longest = list.filter({ $0.contains(ip) }).map(\.length).max() {
                length = longest
            } else {
                continue
            }
            if length > best {
                best = length
                kept = [index]
            } else if length == best {
                kept.append(index)
            }
        }
        c = kept
    }

    /// An exact name, else the longest `*.suffix` (`*.b.example.com` before `*.example.com`),
    /// else chains without server names.
    private func selectServerName(_ c: inout [Int], _ name: String) {
        if !name.isEmpty {
            let exact = c.filter { matches[$0].serverNames.contains(name) }
            if !exact.isEmpty { return c = exact }
            var rest = Substring(name).dropFirst()
            while let dot = rest.firstIndex(of: "."), rest.index(after: dot) < rest.endIndex {
                let wildcard = "*" + name[dot...]
                let hits = c.filter { matches[$0].serverNames.contains(wildcard) }
                if !hits.isEmpty { return c = hits }
                rest = name[name.index(after: dot)...]
            }
        }
        c = c.filter { matches[$0].serverNames.isEmpty }
    }

    /// Loopback or same-IP connections go to SAME_IP_OR_LOOPBACK chains and others to EXTERNAL
    /// ones when there are any; ANY chains take the rest.
    private func selectSourceType(_ c: inout [Int], _ facts: ConnectionFacts) {
        let isLocal = facts.sourceIP.map { $0.isLoopback || $0 == facts.destinationIP } ?? true
        let preferred: FilterChainMatch.SourceType = isLocal ? .sameIPOrLoopback : .external
        let hits = c.filter { matches[$0].sourceType == preferred }
        c = hits.isEmpty ? c.filter { matches[$0].sourceType == .any } : hits
    }
}
