@testable import FerryConfig
import Testing

/// `request_headers_to_add` / `_to_remove` and their `append` semantics.
@Suite("Header mutations")
struct HeaderMutationTests {
    private func decodeRoute(_ mutations: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) -> Route? {
        let yaml = Fixture.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend}\n" + mutations)
        return Fixture.firstRoute(Fixture.load(yaml, sourceLocation: sourceLocation))
    }

    @Test("append and append_action map to Envoy's actions; the default appends")
    func appendSemantics() throws {
        let route = try #require(
            decodeRoute(
                """
                  request_headers_to_add:
                  - header: {key: X-Default, value: a}
                  - header: {key: x-append, value: b}
                    append: true
                  - header: {key: x-overwrite, value: c}
                    append: false
                  - header: {key: x-if-absent, value: d}
                    append_action: ADD_IF_ABSENT
                  - header: {key: x-if-exists, value: e}
                    append_action: OVERWRITE_IF_EXISTS
                    keep_empty_value: true
                """))
        let added = route.requestHeaders.add
        #expect(added.map(\.name) == ["x-default", "x-append", "x-overwrite", "x-if-absent", "x-if-exists"])
        #expect(
            added.map(\.action) == [
                .appendIfExistsOrAdd, .appendIfExistsOrAdd, .overwriteIfExistsOrAdd, .addIfAbsent, .overwriteIfExists,
            ])
        #expect(added.map(\.value.literalValue) == ["a", "b", "c", "d", "e"])
        #expect(added.map(\.keepEmptyValue) == [false, false, false, false, true])
    }

    @Test("append and append_action together are rejected, as in Envoy")
    func appendAndAppendAction() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  request_headers_to_add: [{header: {key: x-a, value: "1"}, append: true, append_action: ADD_IF_ABSENT}]
                """)
        Fixture.expectOneError(
            yaml, at: "append:", path: "\(Fixture.route(0)).request_headers_to_add[0].append",
            message: "append and append_action cannot both be set")
    }

    @Test("pseudo-header :path cannot be added; the only error is at the key")
    func pseudoHeaderRejected() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  request_headers_to_add:
                  - header: {key: ":path", value: "/x"}
                    append_action: OVERWRITE_IF_EXISTS_OR_ADD
                """)
        let error = Fixture.expectOneError(
            yaml, at: "\":path\"", path: "\(Fixture.route(0)).request_headers_to_add[0].header.key",
            message: "pseudo-headers and host cannot be added here")
        #expect(error?.fix?.contains("prefix_rewrite") == true)
    }

    @Test("host cannot be added either; the fix points at host rewriting")
    func hostRejected() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  request_headers_to_add: [{header: {key: Host, value: example.com}}]
                """)
        let error = Fixture.expectOneError(
            yaml, at: "Host", path: "\(Fixture.route(0)).request_headers_to_add[0].header.key",
            message: "pseudo-headers and host cannot be added here")
        #expect(error?.fix?.contains("host_rewrite_literal") == true)
    }

    @Test("a header value with CR, LF or NUL is rejected at the value, as Envoy's pattern rejects it")
    func lineBreakInValue() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  response_headers_to_add: [{header: {key: x-a, value: "a\\r\\nset-cookie: b"}}]
                """)
        let error = Fixture.expectOneError(
            yaml, at: "\"a\\r\\nset-cookie: b\"", path: "\(Fixture.route(0)).response_headers_to_add[0].header.value",
            message: "a header value cannot contain NUL, CR or LF")
        #expect(error?.fix?.contains("once per value") == true)
    }

    @Test("an invalid header name is rejected at the name")
    func invalidHeaderName() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  response_headers_to_add: [{header: {key: "bad header", value: x}}]
                """)
        Fixture.expectOneError(
            yaml, at: "\"bad header\"", path: "\(Fixture.route(0)).response_headers_to_add[0].header.key",
            message: "\"bad header\" is not a valid header name")
    }

    @Test("header values are format strings")
    func formattedValue() throws {
        let route = try #require(
            decodeRoute(
                "  response_headers_to_add: [{header: {key: x-upstream, value: \"%UPSTREAM_HOST% via ferry\"}}]"))
        let value = try #require(route.responseHeaders.add.only?.value)
        #expect(!value.isLiteral)
        #expect(value.tokens.count == 2)
        #expect(value.tokens.last == .literal(" via ferry"))
    }

    @Test("a bad command in a header value is reported once, at the value")
    func badCommandInValue() {
        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  request_headers_to_add: [{header: {key: x-a, value: "%UPSTREM_HOST%"}, append: false}]
                """)
        let error = Fixture.expectOneError(
            yaml, at: "\"%UPSTREM_HOST%\"", path: "\(Fixture.route(0)).request_headers_to_add[0].header.value",
            message: "unknown command %UPSTREM_HOST%")
        #expect(error?.message.contains("did you mean %UPSTREAM_HOST%?") == true)
    }

    @Test("headers to remove are lower-cased; pseudo-headers and host cannot be removed")
    func headersToRemove() throws {
        let route = try #require(decodeRoute("  request_headers_to_remove: [X-Internal, x-debug]"))
        #expect(route.requestHeaders.remove == ["x-internal", "x-debug"])

        let yaml = Fixture.bootstrap(
            routes: """
                - match: {prefix: "/"}
                  route: {cluster: backend}
                  request_headers_to_remove: [x-ok, ":authority"]
                """)
        Fixture.expectOneError(
            yaml, at: "\":authority\"", path: "\(Fixture.route(0)).request_headers_to_remove",
            message: "pseudo-headers and host cannot be removed")
    }

    @Test("mutations are read at every level: route configuration, virtual host, route")
    func everyLevel() throws {
        let yaml = Fixture.bootstrap(
            routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend}\n"
                + "  response_headers_to_add: [{header: {key: x-level, value: route}}]",
            virtualHostFields: "response_headers_to_add: [{header: {key: x-level, value: host}}]",
            routeConfigFields:
                "response_headers_to_add: [{header: {key: x-level, value: config}}]\ninternal_only_headers: [X-Secret]")
        let config = try #require(Fixture.load(yaml)?.listeners.only?.httpConnectionManager?.routeConfig)
        #expect(config.responseHeaders.add.map(\.value.literalValue) == ["config"])
        #expect(config.internalOnlyHeaders == ["x-secret"])
        let host = try #require(config.virtualHosts.only)
        #expect(host.responseHeaders.add.map(\.value.literalValue) == ["host"])
        #expect(host.routes.only?.responseHeaders.add.map(\.value.literalValue) == ["route"])
    }
}
