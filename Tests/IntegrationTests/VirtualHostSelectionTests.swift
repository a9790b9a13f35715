import FerryTestKit
import Testing

/// Virtual host selection by Host header, in Envoy's order: exact, longest `*.suffix`,
/// longest `prefix*`, then `*`.
@Suite("Virtual host selection")
struct VirtualHostSelectionTests {
    static let routeConfig: String = {
        func host(_ name: String, _ domains: [String]) -> String {
            TestConfig.virtualHost(name, domains: domains, routes: Support.answer("{prefix: \"/\"}", name))
        }
        return "virtual_hosts:\n"
            + host("fallback", ["*"])
            + host("prefix-short", ["api.*"])
            + host("prefix-long", ["api.example.*"])
            + host("suffix-short", ["*.example.com"])
            + host("suffix-long", ["*.api.example.com"])
            + host("exact", ["api.example.com", "www.example.net"])
            + host("ported", ["ported.test:8443"])
    }()

    static func run(_ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(yaml: { _ in TestConfig.bootstrap(routeConfig: routeConfig) }) { proxy, _ in
            try await body(proxy)
        }
    }

    /// Checks every (Host, expected virtual host) pair; a failure lists all of them.
    static func expectSelections(
        _ proxy: ProxyHarness, _ cases: [(String, String)],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var actual: [String] = []
        for (host, _) in cases { actual.append("\(host) → \(try await selected(proxy, host: host))") }
        #expect(actual == cases.map { "\($0.0) → \($0.1)" }, sourceLocation: sourceLocation)
    }

    static func selected(_ proxy: ProxyHarness, host: String) async throws -> String {
        let result = try await Support.get(proxy, "/", host: host)
        return result.status == 200 ? result.body : "status \(result.status)"
    }

    @Test("an exact domain wins over every wildcard that also matches, case-insensitively")
    func exactWins() async throws {
        try await Self.run { proxy in
            try await Self.expectSelections(
                proxy,
                [
                    ("api.example.com", "exact"),
                    ("API.Example.COM", "exact"),
                    ("www.example.net", "exact"),
                ])
        }
    }

    @Test("the longest matching *.suffix wins, and suffixes are tried before prefixes")
    func longestSuffix() async throws {
        try await Self.run { proxy in
            try await Self.expectSelections(
                proxy,
                [
                    ("v1.api.example.com", "suffix-long"),
                    ("www.example.com", "suffix-short"),
                    // Matches "*.example.com" and "api.*": the suffix wins.
                    ("api.eu.example.com", "suffix-short"),
                    // A wildcard stands for at least one character.
                    (".example.com", "fallback"),
                    ("example.com", "fallback"),
                ])
        }
    }

    @Test("the longest matching prefix* wins when no exact or suffix domain matches")
    func longestPrefix() async throws {
        try await Self.run { proxy in
            try await Self.expectSelections(
                proxy,
                [
                    ("api.example.org", "prefix-long"),
                    ("api.other.net", "prefix-short"),
                    ("apix.other.net", "fallback"),
                ])
        }
    }

    @Test("a domain with a port matches only that host and port; anything else falls back to *")
    func hostWithPort() async throws {
        try await Self.run { proxy in
            try await Self.expectSelections(
                proxy,
                [
                    ("ported.test:8443", "ported"),
                    ("ported.test", "fallback"),
                    ("ported.test:9443", "fallback"),
                    // The port is part of the host for wildcard matching too (Envoy's default).
                    ("www.example.com:80", "fallback"),
                    ("api.example.com:80", "prefix-long"),
                ])
        }
    }

    @Test("without a * virtual host an unmatched host gets 404 with no body")
    func noFallback() async throws {
        let routeConfig =
            "virtual_hosts:\n"
            + TestConfig.virtualHost(
                "only", domains: ["only.example"], routes: Support.answer("{prefix: \"/\"}", "only"))
        try await ProxyHarness.with(yaml: { _ in TestConfig.bootstrap(routeConfig: routeConfig) }) { proxy, _ in
            try await Self.expectSelections(
                proxy,
                [
                    ("only.example", "only")
                ])
            let miss = try await Support.get(proxy, "/", host: "other.example")
            #expect(miss.status == 404)
            #expect(miss.body == "")
            #expect(miss.header("content-length") == "0")
        }
    }
}
