import FerryConfig
import FerryPolicy
import Testing

@testable import FerryProxy

/// Reference: Envoy's docs "HTTP header manipulation" (x-forwarded-for, Examples 1–4) and
/// "HTTP header sanitizing", and `ConnectionManagerUtility::mutateRequestHeaders`.
@Suite("RequestHeaderRules")
struct RequestHeaderRulesTests {
    func strip(_ fields: [(String, String)]) -> (upgrade: String?, lines: [String]) {
        var headers = HeaderMap(fields.map { (name: $0.0, value: $0.1) })
        let upgrade = RequestHeaderRules.stripHopByHop(&headers)
        return (upgrade, headers.lines)
    }

    @Test("hop-by-hop fields and fields named in Connection are removed")
    func hopByHop() {
        let result = strip([
            ("Connection", "keep-alive, X-Custom, close"), ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("X-Custom", "1"), ("Upgrade", "h2c"), ("X-Other", "kept"), ("x-custom", "2"),
        ])
        #expect(result.upgrade == nil)
        #expect(result.lines == ["x-other: kept"])
    }

    @Test("several Connection fields all count")
    func severalConnectionFields() {
        let result = strip([("connection", "x-a"), ("x-a", "1"), ("x-b", "2"), ("Connection", " X-B ")])
        #expect(result.lines == [])
    }

    @Test("Connection cannot remove host, te, x-forwarded-for or x-request-id")
    func protectedNames() {
        let result = strip([
            ("connection", "host, te, x-forwarded-for, x-request-id"), ("host", "a.example"), ("te", "trailers"),
            ("x-forwarded-for", "192.0.2.1"), ("x-request-id", "abc"),
        ])
        #expect(result.lines == ["host: a.example", "te: trailers", "x-forwarded-for: 192.0.2.1", "x-request-id: abc"])
    }

    @Test(
        "te is kept as `trailers` when it lists trailers, and removed otherwise",
        arguments: [
            ([("te", "trailers")], ["te: trailers"]),
            ([("te", "deflate;q=0.5, TRAILERS")], ["te: trailers"]),
            ([("te", "gzip"), ("x", "1"), ("TE", "trailers")], ["te: trailers", "x: 1"]),
            ([("te", "gzip")], []),
            ([("te", "trailersx")], []),
        ] as [([(String, String)], [String])])
    func teTrailers(fields: [(String, String)], expected: [String]) {
        #expect(strip(fields).lines == expected)
    }

    @Test("Connection: upgrade with an Upgrade field is reported as a lower-cased upgrade and Upgrade is kept")
    func upgradeDetection() {
        let websocket = strip([("Connection", "keep-alive, Upgrade"), ("Upgrade", "WebSocket"), ("X-A", "1")])
        #expect(websocket.upgrade == "websocket")
        #expect(websocket.lines == ["upgrade: WebSocket", "x-a: 1"])
        let mixedCase = strip([("Connection", "UPGRADE"), ("upgrade", "h2c")])
        #expect(mixedCase.upgrade == "h2c")
        let noUpgradeField = strip([("Connection", "upgrade")])
        #expect(noUpgradeField.upgrade == nil)
        #expect(noUpgradeField.lines == [])
        let noToken = strip([("Connection", "keep-alive"), ("Upgrade", "websocket")])
        #expect(noToken.upgrade == nil)
        #expect(noToken.lines == [])
    }

    // MARK: forwarding

    func forward(
        _ fields: [(String, String)], peer: String?, useRemoteAddress: Bool, trustedHops: UInt32 = 0,
        skipAppend: Bool = false, internalRanges: [String] = []
    ) -> (remote: String?, edge: Bool, lines: [String]) {
        var hcm = HttpConnectionManager(statPrefix: "test")
        hcm.useRemoteAddress = useRemoteAddress
        hcm.xffNumTrustedHops = trustedHops
        hcm.skipXffAppend = skipAppend
        hcm.internalAddressConfig.cidrRanges = internalRanges.map { cidr in
            let parts = cidr.split(separator: "/")
            return CidrRange(prefix: String(parts[0]), length: Int(parts[1])!)!
        }
        var head = RequestHead(
            method: "GET", path: "/", authority: "a", headers: HeaderMap(fields.map { (name: $0.0, value: $0.1) }))
        let result = RequestHeaderRules.applyForwarding(
            &head, hcm: .init(hcm), peerIP: peer, scheme: "http", localAddress: "192.0.2.99")
        return (result.remote, result.edge, head.headers.lines)
    }

    static let clientXFF = "203.0.113.128, 203.0.113.10, 203.0.113.1"

    @Test("Envoy example 1: edge proxy without trusted hops uses the peer address and appends it")
    func envoyExample1() {
        let result = forward(
            [("x-forwarded-for", Self.clientXFF), ("x-envoy-internal", "true")], peer: "192.0.2.5",
            useRemoteAddress: true)
        #expect(result.remote == "192.0.2.5")
        #expect(result.edge)
        #expect(
            result.lines == [
                "x-forwarded-for: \(Self.clientXFF),192.0.2.5", "x-forwarded-proto: http",
                "x-envoy-external-address: 192.0.2.5",
            ])
    }

    @Test("Envoy example 3: edge proxy with two trusted hops takes the second address from the right")
    func envoyExample3() {
        let result = forward(
            [("x-forwarded-for", Self.clientXFF)], peer: "192.0.2.5", useRemoteAddress: true, trustedHops: 2)
        #expect(result.remote == "203.0.113.10")
        #expect(result.edge)
        #expect(
            result.lines == [
                "x-forwarded-for: \(Self.clientXFF),192.0.2.5", "x-forwarded-proto: http",
                "x-envoy-external-address: 203.0.113.10",
            ])
    }

    @Test(
        "Envoy examples 2 and 4: an internal proxy trusts the last, or last but trusted-hops, XFF address",
        arguments: [(0 as UInt32, "192.0.2.5"), (2, "203.0.113.10")])
    func envoyExamples2And4(trustedHops: UInt32, expected: String) {
        let xff = Self.clientXFF + ", 192.0.2.5"
        let result = forward(
            [("x-forwarded-for", xff)], peer: "10.11.12.13", useRemoteAddress: false, trustedHops: trustedHops)
        #expect(result.remote == expected)
        #expect(!result.edge)
        #expect(result.lines == ["x-forwarded-for: \(xff)", "x-forwarded-proto: http"])
    }

    @Test("Envoy examples 2 and 4: x-envoy-internal and other internal-only headers from an external client are removed")
    func internalProxySanitizes() {
        let xff = Self.clientXFF + ", 192.0.2.5"
        let result = forward(
            [("x-forwarded-for", xff), ("x-envoy-internal", "true"), ("x-envoy-retry-on", "5xx")],
            peer: "10.11.12.13", useRemoteAddress: false)
        #expect(result.lines == ["x-forwarded-for: \(xff)", "x-forwarded-proto: http"])
    }

    @Test(
        "without use_remote_address and without XFF, the peer is the remote address and x-forwarded-proto is only added"
    )
    func internalProxyWithoutXFF() {
        let result = forward([("x-forwarded-proto", "https")], peer: "10.0.0.1", useRemoteAddress: false)
        #expect(result.remote == "10.0.0.1")
        #expect(!result.edge)
        #expect(result.lines == ["x-forwarded-proto: https"])
    }

    @Test("skip_xff_append leaves x-forwarded-for alone; with no XFF, the peer becomes it")
    func xffAppendChoices() {
        let skipped = forward(
            [("x-forwarded-for", "198.51.100.1")], peer: "192.0.2.5", useRemoteAddress: true, skipAppend: true)
        #expect(skipped.lines.first == "x-forwarded-for: 198.51.100.1")
        let fresh = forward([], peer: "192.0.2.5", useRemoteAddress: true)
        #expect(fresh.lines.first == "x-forwarded-for: 192.0.2.5")
    }

    @Test("an edge request loses Envoy's internal-only headers and gets x-envoy-external-address; others stay")
    func edgeStripsEnvoyHeaders() {
        let fields =
            RequestHeaderRules.internalOnlyEnvoyHeaders.map { ($0, "client-set") } + [
                ("x-envoy-custom", "1"), ("x-app", "2"),
            ]
        let result = forward(fields, peer: "198.51.100.7", useRemoteAddress: true)
        #expect(result.edge)
        #expect(
            result.lines == [
                "x-envoy-custom: 1", "x-app: 2", "x-forwarded-for: 198.51.100.7", "x-forwarded-proto: http",
                "x-envoy-external-address: 198.51.100.7",
            ])
    }

    @Test("an edge request also loses x-envoy-retriable-status-codes and x-envoy-retriable-header-names, as in Envoy")
    func edgeStripsRetriableHeaders() {
        let result = forward(
            [("x-envoy-retriable-status-codes", "418"), ("x-envoy-retriable-header-names", "x-a")],
            peer: "198.51.100.7", useRemoteAddress: true)
        #expect(
            result.lines == [
                "x-forwarded-for: 198.51.100.7", "x-forwarded-proto: http", "x-envoy-external-address: 198.51.100.7",
            ])
    }

    // The cases below were checked against Envoy 1.40 (upstream echo of the forwarded headers).

    @Test("a peer inside internal_address_config is internal: x-envoy-internal is set and x-envoy headers stay")
    func internalPeer() {
        let result = forward(
            [("x-envoy-retry-on", "5xx"), ("x-forwarded-proto", "https"), ("x-envoy-original-path", "/z")],
            peer: "10.0.0.7", useRemoteAddress: true, internalRanges: ["10.0.0.0/8"])
        #expect(!result.edge)
        #expect(result.remote == "10.0.0.7")
        #expect(
            result.lines == [
                "x-envoy-retry-on: 5xx", "x-forwarded-proto: http", "x-envoy-original-path: /z",
                "x-forwarded-for: 10.0.0.7", "x-envoy-internal: true",
            ])
    }

    @Test("without internal_address_config no address is internal, not even 10/8 or loopback (Envoy 1.40 default)")
    func noInternalByDefault() {
        for peer in ["10.0.0.7", "192.168.1.1", "127.0.0.1"] {
            let result = forward([("x-envoy-retry-on", "5xx")], peer: peer, useRemoteAddress: true)
            #expect(result.edge)
            #expect(!result.lines.contains("x-envoy-internal: true"))
            #expect(!result.lines.contains("x-envoy-retry-on: 5xx"))
        }
    }

    @Test("a loopback peer is appended to x-forwarded-for as the host's own address, as Envoy does")
    func loopbackPeerAppendsHostAddress() {
        let result = forward([("x-forwarded-for", "203.0.113.9")], peer: "127.0.0.1", useRemoteAddress: true)
        #expect(result.lines.contains("x-forwarded-for: 203.0.113.9,192.0.2.99"))
        #expect(result.lines.contains("x-envoy-external-address: 127.0.0.1"))
        let v6 = forward([], peer: "::1", useRemoteAddress: true)
        #expect(v6.lines.first == "x-forwarded-for: 192.0.2.99")
    }

    @Test("a request that arrives with an XFF is not internal, even from an internal peer (Envoy's single-address rule)")
    func internalPeerWithXFF() {
        let result = forward(
            [("x-forwarded-for", "203.0.113.9"), ("x-envoy-retry-on", "5xx")], peer: "10.0.0.7", useRemoteAddress: true,
            internalRanges: ["10.0.0.0/8"])
        #expect(result.edge)
        #expect(!result.lines.contains("x-envoy-internal: true"))
        #expect(!result.lines.contains("x-envoy-retry-on: 5xx"))
    }

    @Test("without use_remote_address a single internal XFF address makes the request internal; two do not")
    func internalFromSingleXFF() {
        let single = forward(
            [("x-forwarded-for", "10.0.0.1"), ("x-envoy-force-trace", "1")], peer: "198.51.100.1",
            useRemoteAddress: false, internalRanges: ["10.0.0.0/8"])
        #expect(!single.edge)
        #expect(single.remote == "10.0.0.1")
        #expect(single.lines.contains("x-envoy-internal: true"))
        #expect(single.lines.contains("x-envoy-force-trace: 1"))
        let two = forward(
            [("x-forwarded-for", "10.0.0.1, 10.0.0.2"), ("x-envoy-force-trace", "1")], peer: "198.51.100.1",
            useRemoteAddress: false, internalRanges: ["10.0.0.0/8"])
        #expect(two.remote == "10.0.0.2")
        #expect(!two.lines.contains("x-envoy-internal: true"))
        #expect(!two.lines.contains("x-envoy-force-trace: 1"))
        let notAnIP = forward(
            [("x-forwarded-for", "10.0.0.2:80")], peer: "198.51.100.1", useRemoteAddress: false, internalRanges: ["10.0.0.0/8"])
        #expect(notAnIP.remote == "198.51.100.1")
        #expect(!notAnIP.lines.contains("x-envoy-internal: true"))
    }

    @Test("a non-edge, non-internal request keeps the edge-only headers but loses the internal-only ones")
    func intermediateHopSanitizing() {
        let fields =
            RequestHeaderRules.edgeOnlyEnvoyHeaders.map { ($0, "v") }
            + RequestHeaderRules.internalOnlyEnvoyHeaders.map { ($0, "v") }
        let result = forward(fields, peer: "10.0.0.1", useRemoteAddress: false)
        #expect(!result.edge)
        #expect(result.lines == RequestHeaderRules.edgeOnlyEnvoyHeaders.map { "\($0): v" } + ["x-forwarded-proto: http"])
    }

    @Test("an edge request loses the edge-only headers too, and x-envoy-external-address is replaced")
    func edgeSanitizing() {
        let fields = RequestHeaderRules.edgeOnlyEnvoyHeaders.map { ($0, "v") }
        let result = forward(fields, peer: "198.51.100.7", useRemoteAddress: true)
        #expect(
            result.lines == [
                "x-forwarded-for: 198.51.100.7", "x-forwarded-proto: http", "x-envoy-external-address: 198.51.100.7",
            ])
    }

    @Test("with trusted hops, a client's x-forwarded-proto is kept, as in Envoy")
    func trustedForwardedProto() {
        let result = forward(
            [("x-forwarded-for", "203.0.113.9"), ("x-forwarded-proto", "https")], peer: "192.0.2.5",
            useRemoteAddress: true, trustedHops: 1)
        #expect(result.lines.contains("x-forwarded-proto: https"))
        #expect(result.lines.contains("x-envoy-external-address: 203.0.113.9"))
    }

    @Test("with trusted hops, an XFF entry that is not an IP address falls back to the peer")
    func trustedHopNotAnIP() {
        let result = forward(
            [("x-forwarded-for", "1.2.3.4, junk")], peer: "192.0.2.5", useRemoteAddress: true, trustedHops: 1)
        #expect(result.remote == "192.0.2.5")
    }

    @Test(
        "CIDR ranges match by prefix bits, per address family",
        arguments: [
            ("10.0.0.0", 8, "10.1.2.3", true), ("10.0.0.0", 8, "11.0.0.1", false), ("172.16.0.0", 12, "172.31.255.255", true),
            ("172.16.0.0", 12, "172.32.0.1", false), ("192.168.1.128", 25, "192.168.1.200", true),
            ("192.168.1.128", 25, "192.168.1.127", false), ("0.0.0.0", 0, "8.8.8.8", true), ("127.0.0.1", 32, "127.0.0.1", true),
            ("127.0.0.1", 32, "127.0.0.2", false), ("fd00::", 8, "fd12::1", true), ("fd00::", 8, "fe80::1", false),
            ("::1", 128, "::1", true), ("::", 0, "2001:db8::1", true), ("0.0.0.0", 0, "::1", false),
            ("::ffff:0:0", 96, "::ffff:10.0.0.1", true), ("2001:db8::", 33, "2001:db8:8000::", false),
        ])
    func cidrMatching(prefix: String, length: Int, address: String, expected: Bool) throws {
        let range = try #require(CidrRange(prefix: prefix, length: length))
        let ip = try #require(IPAddressBytes(address))
        #expect(range.contains(ip) == expected)
    }

    @Test(
        "only plain IPv4 and IPv6 text parses as an address",
        arguments: [
            ("1.2.3.4", true), ("255.255.255.255", true), ("256.1.1.1", false), ("1.2.3", false), ("1.2.3.4:80", false),
            ("::", true), ("::1", true), ("fe80::1:2", true), ("1:2:3:4:5:6:7:8", true), ("1:2:3:4:5:6:7:8:9", false),
            ("1::2::3", false), ("[::1]", false), ("::ffff:1.2.3.4", true), ("12345::", false), ("", false), ("junk", false),
            ("1.2.3.04", false), ("0.0.0.0", true), ("1.2.3.0004", false),
        ])
    func addressParsing(text: String, valid: Bool) {
        #expect((IPAddressBytes(text) != nil) == valid)
    }

    // MARK: x-request-id

    @Test("generated request ids are version-4 UUIDs with the RFC 4122 variant, in lower-case hex")
    func uuidFormat() {
        var random = FastRandom(seed: 7)
        var seen = Set<String>()
        let hex = Set("0123456789abcdef")
        for _ in 0..<2000 {
            let id = RequestHeaderRules.uuid(&random)
            let chars = Array(id)
            #expect(chars.count == 36)
            #expect([8, 13, 18, 23].allSatisfy { chars[$0] == "-" })
            #expect(chars.enumerated().allSatisfy { [8, 13, 18, 23].contains($0.offset) || hex.contains($0.element) })
            #expect(chars[14] == "4")
            #expect("89ab".contains(chars[19]))
            seen.insert(id)
        }
        #expect(seen.count == 2000)
    }

    @Test("the same seed gives the same ids")
    func uuidDeterministic() {
        var a = FastRandom(seed: 42)
        var b = FastRandom(seed: 42)
        #expect((0..<5).map { _ in RequestHeaderRules.uuid(&a) } == (0..<5).map { _ in RequestHeaderRules.uuid(&b) })
    }
}
