import FerryConfig
@testable import FerryProxy
import Testing

/// Filter chain choice level by level, as Envoy's `FilterChainManagerImpl::findFilterChain`
/// (the differential test `FilterChainDifferentialTests` checks the same rules against Envoy).
@Suite("Filter chain selection")
struct FilterChainSelectorTests {
    static func match(_ edit: (inout FilterChainMatch) -> Void) -> FilterChainMatch {
        var m = FilterChainMatch()
        edit(&m)
        return m
    }

    static func facts(port: Int = 10000, destination: String = "127.0.0.1", source: String = "127.0.0.1", sourcePort: Int = 40000,
                      sni: String = "", transport: String = "raw_buffer", alpn: [String] = []) -> ConnectionFacts {
        var f = ConnectionFacts(destinationIP: IPAddressBytes(destination), destinationPort: port, sourceIP: IPAddressBytes(source),
                                sourcePort: sourcePort)
        f.serverName = sni
        f.transportProtocol = transport
        f.applicationProtocols = alpn
        return f
    }

    static func cidr(_ text: String, _ length: Int) -> CidrRange { CidrRange(prefix: text, length: length)! }

    @Test("an exact destination port wins over chains without one, and a miss below it does not fall back to them")
    func destinationPortDoesNotBacktrack() {
        let chains = [Self.match { $0.destinationPort = 443; $0.serverNames = ["a.example.com"] }, FilterChainMatch()]
        let selector = FilterChainSelector(matches: chains, hasDefault: false)
        #expect(selector.select(Self.facts(port: 443, sni: "a.example.com")) == 0)
        #expect(selector.select(Self.facts(port: 80, sni: "a.example.com")) == 1)
        #expect(selector.select(Self.facts(port: 443, sni: "b.example.com")) == nil)
        let withDefault = FilterChainSelector(matches: chains, hasDefault: true)
        #expect(withDefault.select(Self.facts(port: 443, sni: "b.example.com")) == 2)
    }

    @Test("server names: exact, then the longest *. suffix, then chains without names")
    func serverNames() {
        let selector = FilterChainSelector(matches: [
            Self.match { $0.serverNames = ["www.example.com"] }, Self.match { $0.serverNames = ["*.example.com"] },
            Self.match { $0.serverNames = ["*.com"] }, FilterChainMatch(),
        ], hasDefault: false)
        let expected: [(String, Int)] = [("www.example.com", 0), ("api.example.com", 1), ("a.b.example.com", 1),
                                         ("example.com", 2), ("foo.com", 2), ("example.org", 3), ("", 3), ("com", 3)]
        for (name, chain) in expected {
            #expect(selector.select(Self.facts(sni: name)) == chain, "\(name)")
        }
    }

    @Test("without the TLS inspector (no SNI, raw_buffer) a chain that needs a server name never matches")
    func serverNameNeedsInspector() {
        let selector = FilterChainSelector(matches: [Self.match { $0.serverNames = ["a.example.com"] }], hasDefault: false)
        #expect(selector.select(Self.facts()) == nil)
    }

    @Test("transport protocol: exact, else chains without one")
    func transportProtocol() {
        let selector = FilterChainSelector(matches: [
            Self.match { $0.transportProtocol = "tls" }, Self.match { $0.transportProtocol = "raw_buffer" },
        ], hasDefault: false)
        #expect(selector.select(Self.facts(transport: "tls")) == 0)
        #expect(selector.select(Self.facts()) == 1)
    }

    @Test("application protocols are tried in the client's order")
    func applicationProtocols() {
        let selector = FilterChainSelector(matches: [
            Self.match { $0.applicationProtocols = ["http/1.1"] }, Self.match { $0.applicationProtocols = ["h2"] },
        ], hasDefault: false)
        #expect(selector.select(Self.facts(alpn: ["h2", "http/1.1"])) == 1)
        #expect(selector.select(Self.facts(alpn: ["http/1.1", "h2"])) == 0)
        #expect(selector.select(Self.facts(alpn: ["spdy/3"])) == nil)
    }

    @Test("destination and source ranges: the longest prefix containing the address wins")
    func longestPrefix() {
        let destination = FilterChainSelector(matches: [
            Self.match { $0.prefixRanges = [Self.cidr("127.0.0.0", 8)] }, Self.match { $0.prefixRanges = [Self.cidr("127.0.0.1", 32)] },
            FilterChainMatch(),
        ], hasDefault: false)
        #expect(destination.select(Self.facts(destination: "127.0.0.1")) == 1)
        #expect(destination.select(Self.facts(destination: "127.0.0.2")) == 0)
        #expect(destination.select(Self.facts(destination: "10.0.0.1")) == 2)
        let source = FilterChainSelector(matches: [
            Self.match { $0.sourcePrefixRanges = [Self.cidr("10.0.0.0", 8)] }, Self.match { $0.sourcePrefixRanges = [Self.cidr("10.1.0.0", 16)] },
        ], hasDefault: false)
        #expect(source.select(Self.facts(source: "10.1.2.3")) == 1)
        #expect(source.select(Self.facts(source: "10.2.2.3")) == 0)
        #expect(source.select(Self.facts(source: "192.168.0.1")) == nil)
    }

    @Test("source type: loopback and same-IP connections are local, others external; ANY takes the rest")
    func sourceType() {
        let selector = FilterChainSelector(matches: [
            Self.match { $0.sourceType = .sameIPOrLoopback }, Self.match { $0.sourceType = .external },
        ], hasDefault: false)
        #expect(selector.select(Self.facts(source: "127.0.0.5")) == 0)
        #expect(selector.select(Self.facts(destination: "10.0.0.1", source: "10.0.0.1")) == 0)
        #expect(selector.select(Self.facts(destination: "10.0.0.1", source: "10.0.0.2")) == 1)
        let withAny = FilterChainSelector(matches: [Self.match { $0.sourceType = .sameIPOrLoopback }, FilterChainMatch()], hasDefault: false)
        #expect(withAny.select(Self.facts(destination: "10.0.0.1", source: "10.0.0.2")) == 1)
    }

    @Test("source ports: exact, else chains without ports")
    func sourcePorts() {
        let selector = FilterChainSelector(matches: [Self.match { $0.sourcePorts = [5000, 5001] }, FilterChainMatch()], hasDefault: false)
        #expect(selector.select(Self.facts(sourcePort: 5001)) == 0)
        #expect(selector.select(Self.facts(sourcePort: 6000)) == 1)
    }

    @Test("one catch-all chain takes every connection, with or without addresses")
    func catchAll() {
        let selector = FilterChainSelector(matches: [FilterChainMatch()], hasDefault: false)
        #expect(selector.select(ConnectionFacts(destinationIP: nil, destinationPort: 0, sourceIP: nil, sourcePort: 0)) == 0)
        #expect(selector.select(Self.facts(sni: "x", transport: "tls", alpn: ["h2"])) == 0)
        #expect(FilterChainSelector(matches: [], hasDefault: true).select(Self.facts()) == 0)
    }
}
