import FerryTestKit
import Testing

/// Route matching inside one virtual host: first match in order wins; path, prefix, regex and
/// separated-prefix matchers; case sensitivity; header, query parameter and gRPC matchers.
@Suite("Route matching")
struct RouteMatchTests {
    static func run(_ routes: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(yaml: { _ in TestConfig.bootstrap(routes: routes, clusters: []) }) { proxy, _ in
            try await body(proxy)
        }
    }

    /// A request and the route that should answer it.
    struct Probe {
        var path: String
        var headers: [String: String] = [:]
        var method = "GET"
        var expected: String

        init(_ path: String, headers: [String: String] = [:], method: String = "GET", expect: String) {
            self.path = path
            self.headers = headers
            self.method = method
            expected = expect
        }

        var label: String {
            let fields = headers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            return "\(method) \(path) [\(fields)]"
        }
    }

    /// Sends every probe; a failure lists all of them with the route that answered.
    static func expectMatches(
        _ proxy: ProxyHarness, _ probes: [Probe],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        var actual: [String] = []
        for probe in probes { actual.append("\(probe.label) → \(try await matched(proxy, probe))") }
        #expect(actual == probes.map { "\($0.label) → \($0.expected)" }, sourceLocation: sourceLocation)
    }

    /// The body of the matched direct response, or "status N" when nothing matched. A gRPC
    /// request gets it as Envoy sends it: in the trailers-only answer's grpc-message.
    static func matched(_ proxy: ProxyHarness, _ probe: Probe) async throws -> String {
        var arguments = ["-X", probe.method]
        for (name, value) in probe.headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        let result = try await Curl.perform(arguments + [proxy.url(probe.path)])
        if result.header("content-type") == "application/grpc" { return result.header("grpc-message") ?? "" }
        return result.status == 200 ? result.body : "status \(result.status)"
    }

    @Test("path, path_separated_prefix, safe_regex and prefix match as Envoy defines them, first match winning")
    func pathMatchers() async throws {
        let routes =
            Support.answer("{path: \"/exact\"}", "path")
            + Support.answer("{path_separated_prefix: \"/sep\"}", "separated")
            + Support.answer("{safe_regex: {regex: \"/re/[0-9]+\"}}", "regex")
            + Support.answer("{prefix: \"/order\"}", "order-first")
            + Support.answer("{path: \"/order/second\"}", "order-second")
            + Support.answer("{prefix: \"/pre\"}", "prefix")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/exact", expect: "path"),
                    Probe("/exact?q=1", expect: "path"),
                    Probe("/exact/", expect: "status 404"),
                    Probe("/exactly", expect: "status 404"),
                    Probe("/sep", expect: "separated"),
                    Probe("/sep/deeper", expect: "separated"),
                    Probe("/sep?x=1", expect: "separated"),
                    Probe("/separate", expect: "status 404"),
                    Probe("/re/123", expect: "regex"),
                    Probe("/re/123?a=b", expect: "regex"),
                    // The regex must match the whole path.
                    Probe("/re/123/x", expect: "status 404"),
                    Probe("/re/12a", expect: "status 404"),
                    Probe("/order/second", expect: "order-first"),
                    Probe("/pre", expect: "prefix"),
                    Probe("/prefix/more", expect: "prefix"),
                    Probe("/other", expect: "status 404"),
                ])
        }
    }

    @Test("case_sensitive false matches any case; the default is case-sensitive")
    func caseSensitivity() async throws {
        let routes =
            Support.answer("{prefix: \"/CaSe\", case_sensitive: false}", "insensitive")
            + Support.answer("{path: \"/Exact\"}", "sensitive")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/case/x", expect: "insensitive"),
                    Probe("/CASE", expect: "insensitive"),
                    Probe("/Exact", expect: "sensitive"),
                    Probe("/exact", expect: "status 404"),
                    Probe("/EXACT", expect: "status 404"),
                ])
        }
    }

    @Test("string_match exact, prefix, suffix, contains and safe_regex on headers")
    func headerStringMatch() async throws {
        let routes =
            Support.answer("{prefix: \"/h\", headers: [{name: x-exact, string_match: {exact: \"a\"}}]}", "exact")
            + Support.answer("{prefix: \"/h\", headers: [{name: x-legacy, exact_match: \"b\"}]}", "legacy")
            + Support.answer("{prefix: \"/h\", headers: [{name: x-pre, string_match: {prefix: \"ab\"}}]}", "prefix")
            + Support.answer("{prefix: \"/h\", headers: [{name: x-suf, string_match: {suffix: \"yz\"}}]}", "suffix")
            + Support.answer(
                "{prefix: \"/h\", headers: [{name: x-has, string_match: {contains: \"mid\"}}]}", "contains")
            + Support.answer(
                "{prefix: \"/h\", headers: [{name: x-re, string_match: {safe_regex: {regex: \"v[0-9]+\"}}}]}", "regex")
            + Support.answer(
                "{prefix: \"/h\", headers: [{name: x-one, present_match: true}, {name: x-two, present_match: true}]}",
                "both")
            + Support.answer("{prefix: \"/h\", headers: [{name: \":method\", string_match: {exact: POST}}]}", "post")
            + Support.answer("{prefix: \"/h\"}", "fallback")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/h", headers: ["x-exact": "a"], expect: "exact"),
                    Probe("/h", headers: ["x-exact": "ab"], expect: "fallback"),
                    Probe("/h", headers: ["x-legacy": "b"], expect: "legacy"),
                    Probe("/h", headers: ["x-pre": "abc"], expect: "prefix"),
                    Probe("/h", headers: ["x-pre": "xab"], expect: "fallback"),
                    Probe("/h", headers: ["x-suf": "xyz"], expect: "suffix"),
                    Probe("/h", headers: ["x-suf": "yzx"], expect: "fallback"),
                    Probe("/h", headers: ["x-has": "amidst"], expect: "contains"),
                    Probe("/h", headers: ["x-re": "v12"], expect: "regex"),
                    Probe("/h", headers: ["x-re": "v12b"], expect: "fallback"),
                    Probe("/h", headers: ["x-one": "1"], expect: "fallback"),
                    Probe("/h", headers: ["x-one": "1", "x-two": "2"], expect: "both"),
                    Probe("/h", method: "POST", expect: "post"),
                    Probe("/h", expect: "fallback"),
                ])
        }
    }

    @Test("present_match and invert_match follow Envoy's rules for absent headers")
    func presenceAndInversion() async throws {
        let routes =
            Support.answer("{prefix: \"/present\", headers: [{name: x-p, present_match: true}]}", "present")
            + Support.answer("{prefix: \"/absent\", headers: [{name: x-p, present_match: false}]}", "absent")
            + Support.answer(
                "{prefix: \"/invert\", headers: [{name: x-i, string_match: {exact: \"no\"}, invert_match: true}]}",
                "inverted")
            + Support.answer("{prefix: \"/\"}", "fallback")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/present", headers: ["x-p": "anything"], expect: "present"),
                    Probe("/present", expect: "fallback"),
                    Probe("/absent", expect: "absent"),
                    Probe("/absent", headers: ["x-p": "1"], expect: "fallback"),
                    Probe("/invert", headers: ["x-i": "yes"], expect: "inverted"),
                    Probe("/invert", headers: ["x-i": "no"], expect: "fallback"),
                    // An absent header does not match an inverted string matcher (Envoy).
                    Probe("/invert", expect: "fallback"),
                ])
        }
    }

    @Test("query_parameters match by exact value or presence, on any of the parameters")
    func queryParameters() async throws {
        let routes =
            Support.answer("{prefix: \"/q\", query_parameters: [{name: debug, string_match: {exact: \"1\"}}]}", "debug")
            + Support.answer("{prefix: \"/q\", query_parameters: [{name: flag, present_match: true}]}", "flag")
            + Support.answer("{prefix: \"/q\"}", "fallback")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/q?debug=1", expect: "debug"),
                    Probe("/q?a=b&debug=1", expect: "debug"),
                    Probe("/q?debug=10", expect: "fallback"),
                    Probe("/q?flag", expect: "flag"),
                    Probe("/q?flag=x&debug=2", expect: "flag"),
                    Probe("/q", expect: "fallback"),
                    Probe("/q?debugx=1", expect: "fallback"),
                ])
        }
    }

    @Test("a grpc match only takes requests whose content-type is application/grpc")
    func grpcMatch() async throws {
        let routes = Support.answer("{prefix: \"/\", grpc: {}}", "grpc") + Support.answer("{prefix: \"/\"}", "plain")
        try await Self.run(routes) { proxy in
            try await Self.expectMatches(
                proxy,
                [
                    Probe("/svc/Method", headers: ["content-type": "application/grpc"], expect: "grpc"),
                    Probe("/svc/Method", headers: ["content-type": "application/grpc+proto"], expect: "grpc"),
                    Probe("/svc/Method", headers: ["content-type": "application/json"], expect: "plain"),
                    Probe("/svc/Method", expect: "plain"),
                ])
        }
    }
}
