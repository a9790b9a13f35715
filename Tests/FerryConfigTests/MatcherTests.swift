@testable import FerryConfig
import Testing

/// Header, string and query-parameter matchers: decoding and Envoy's matching rules.
@Suite("Matchers")
struct MatcherTests {
    /// Decodes the route match of a one-route config whose match is `match`.
    private func routeMatch(_ match: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> RouteMatch? {
        let yaml = Fixture.bootstrap(
            routes: "- match:\n" + match.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
                + "\n  route: {cluster: backend}")
        return Fixture.firstRoute(Fixture.load(yaml, sourceLocation: sourceLocation))?.match
    }

    private func headerMatcher(
        _ fields: String, sourceLocation: Testing.SourceLocation = #_sourceLocation
    ) -> HeaderMatcher? {
        routeMatch("prefix: /\nheaders:\n- {name: X-Test, \(fields)}", sourceLocation: sourceLocation)?.headers.only
    }

    @Test("exact, prefix, suffix and contains header matchers")
    func valueMatchers() throws {
        let exact = try #require(headerMatcher("exact_match: abc"))
        #expect(exact.name == "x-test")
        #expect(exact.matches("abc") && !exact.matches("ABC") && !exact.matches("abcd"))
        let prefix = try #require(headerMatcher("prefix_match: ab"))
        #expect(prefix.matches("abc") && !prefix.matches("cab"))
        let suffix = try #require(headerMatcher("suffix_match: bc"))
        #expect(suffix.matches("abc") && !suffix.matches("bca"))
        let contains = try #require(headerMatcher("contains_match: b"))
        #expect(contains.matches("abc") && !contains.matches("ac"))
    }

    @Test("a safe_regex header matcher must match the whole value")
    func regexMatcher() throws {
        let regex = try #require(headerMatcher("safe_regex_match: {regex: \"v[0-9]+\"}"))
        #expect(regex.matches("v12"))
        #expect(!regex.matches("xv12") && !regex.matches("v12x"))
    }

    @Test("present_match and a matcher without a rule test presence")
    func presence() throws {
        let present = try #require(headerMatcher("present_match: true"))
        #expect(present.matches("") && present.matches("anything") && !present.matches(nil))
        let absent = try #require(headerMatcher("present_match: false"))
        #expect(absent.matches(nil) && !absent.matches("x"))
        let bare = try #require(headerMatcher("invert_match: false"))
        #expect(bare.matches("x") && !bare.matches(nil))
        let invertedPresent = try #require(headerMatcher("present_match: true, invert_match: true"))
        #expect(invertedPresent.matches(nil) && !invertedPresent.matches("x"))
    }

    @Test("invert_match flips a value rule for present headers")
    func invert() throws {
        let notABC = try #require(headerMatcher("exact_match: abc, invert_match: true"))
        #expect(notABC.matches("xyz"))
        #expect(!notABC.matches("abc"))
    }

    @Test(
        "an absent header never matches a value rule, even inverted",
        arguments: [
            "exact_match: abc", "prefix_match: a", "suffix_match: c", "contains_match: b",
            "safe_regex_match: {regex: \".*\"}",
            "range_match: {start: 0, end: 10}", "string_match: {exact: abc}",
        ])
    func absentNeverMatches(rule: String) throws {
        let plain = try #require(headerMatcher(rule))
        #expect(!plain.matches(nil))
        let inverted = try #require(headerMatcher(rule + ", invert_match: true"))
        #expect(!inverted.matches(nil))
    }

    @Test("treat_missing_header_as_empty matches an absent header as \"\"")
    func missingAsEmpty() throws {
        let emptyExact = try #require(headerMatcher("exact_match: \"\", treat_missing_header_as_empty: true"))
        #expect(emptyExact.matches(nil))
        let notPrefixed = try #require(
            headerMatcher("prefix_match: x, invert_match: true, treat_missing_header_as_empty: true"))
        #expect(notPrefixed.matches(nil))
        let range = try #require(headerMatcher("range_match: {start: 0, end: 10}, treat_missing_header_as_empty: true"))
        #expect(!range.matches(nil))
    }

    @Test("range_match is half-open and needs an integer")
    func range() throws {
        let range = try #require(headerMatcher("range_match: {start: -10, end: 20}"))
        #expect(range.matches("-10") && range.matches("0") && range.matches("19"))
        #expect(!range.matches("20") && !range.matches("-11") && !range.matches("abc") && !range.matches("1.5"))
        let inverted = try #require(headerMatcher("range_match: {start: 0, end: 20}, invert_match: true"))
        #expect(inverted.matches("abc") && inverted.matches("25") && !inverted.matches("5"))
    }

    @Test("string_match with ignore_case")
    func stringMatchIgnoreCase() throws {
        let matcher = try #require(headerMatcher("string_match: {exact: ABC, ignore_case: true}"))
        #expect(matcher.matches("abc") && matcher.matches("AbC") && !matcher.matches("abd"))
    }

    @Test("StringMatcher kinds, with and without ignore_case")
    func stringMatcher() throws {
        #expect(StringMatcher(.prefix("/API")).matches("/API/v1") && !StringMatcher(.prefix("/API")).matches("/api/v1"))
        #expect(StringMatcher(.prefix("/API"), ignoreCase: true).matches("/api/v1"))
        #expect(StringMatcher(.suffix(".JPG"), ignoreCase: true).matches("cat.jpg"))
        #expect(StringMatcher(.contains("Needle"), ignoreCase: true).matches("hayNEEDLEstack"))
        #expect(StringMatcher(.contains("")).matches("anything"))
        #expect(StringMatcher(.exact("")).matches("") && !StringMatcher(.exact("")).matches("x"))
        let regex = StringMatcher(.regex(try CompiledRegex("(?i)ab+c")))
        #expect(regex.matches("ABBC") && !regex.matches("abbcd"))
        #expect(StringMatcher(.exact("x")).description == "exact \"x\"")
    }

    @Test("ignore_case on safe_regex is rejected, as it has no effect")
    func ignoreCaseOnRegex() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/", headers: [{name: x, string_match: {safe_regex: {regex: a}, ignore_case: true}}]}
                  route: {cluster: backend}
                """)
        Fixture.expectOneError(
            yaml, at: "ignore_case", path: "\(Fixture.route(0)).match.headers[0].string_match.ignore_case",
            message: "ignore_case has no effect on safe_regex")
    }

    @Test("an invalid regex is reported at the pattern")
    func invalidRegex() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {safe_regex: {regex: "/api/(v1"}}
                  route: {cluster: backend}
                """)
        Fixture.expectOneError(
            yaml, at: "\"/api/(v1\"", path: "\(Fixture.route(0)).match.safe_regex.regex",
            message: "invalid regular expression")
    }

    @Test("a string matcher without a pattern")
    func stringMatcherWithoutPattern() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/", headers: [{name: x, string_match: {ignore_case: true}}]}
                  route: {cluster: backend}
                """)
        Fixture.expectOneError(
            yaml, at: "{ignore_case", path: "\(Fixture.route(0)).match.headers[0].string_match",
            message: "match pattern is missing")
    }

    @Test("query parameter matchers: string_match, present_match and bare name")
    func queryParameters() throws {
        let match = try #require(
            routeMatch(
                """
                prefix: /
                query_parameters:
                - {name: debug, string_match: {exact: "1"}}
                - {name: trace, present_match: true}
                - {name: token}
                """))
        #expect(match.queryParameters.map(\.name) == ["debug", "trace", "token"])
        let debug = match.queryParameters[0], trace = match.queryParameters[1], token = match.queryParameters[2]
        #expect(debug.matches("1") && !debug.matches("0") && !debug.matches(nil))
        #expect(trace.matches("") && trace.matches("x") && !trace.matches(nil))
        #expect(token.matches("abc") && !token.matches(nil))
    }

    @Test("path specifiers and route match options decode")
    func pathSpecifiers() throws {
        guard case .path("/exact")? = routeMatch("path: /exact")?.path else {
            Issue.record("expected a path specifier")
            return
        }
        guard case .pathSeparatedPrefix("/api")? = routeMatch("path_separated_prefix: /api")?.path else {
            Issue.record("expected a path_separated_prefix specifier")
            return
        }
        guard case .regex(let regex)? = routeMatch("safe_regex: {regex: \"/v[0-9]+/.*\"}")?.path else {
            Issue.record("expected a regex specifier")
            return
        }
        #expect(regex.wholeMatch("/v2/users") && !regex.wholeMatch("/x/v2/users"))
        let options = try #require(routeMatch("prefix: /\ncase_sensitive: false\ngrpc: {}"))
        #expect(!options.caseSensitive && options.grpcOnly)
    }

    @Test("path_separated_prefix must not end with a slash")
    func pathSeparatedPrefixTrailingSlash() {
        let yaml = Fixture.bootstrap(routes: "- match: {path_separated_prefix: /api/}\n  route: {cluster: backend}")
        Fixture.expectOneError(
            yaml, at: "/api/", path: "\(Fixture.route(0)).match.path_separated_prefix",
            message: "must not end with '/'")
    }
}
