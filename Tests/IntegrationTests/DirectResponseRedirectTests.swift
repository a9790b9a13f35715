import FerryTestKit
import Foundation
import Testing

/// Routes answered by the proxy itself: `direct_response` (inline or file body) and
/// `redirect`, with the exact status, headers and Location Envoy sends.
@Suite("Direct responses and redirects")
struct DirectResponseRedirectTests {
    static func run(_ routes: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(yaml: { _ in TestConfig.bootstrap(routes: routes, clusters: []) }) { proxy, _ in
            try await body(proxy)
        }
    }

    @Test("an inline direct response has its status, body, content-length and text/plain type")
    func inlineBody() async throws {
        let routes =
            "- match: {path: \"/hello\"}\n  direct_response: {status: 201, body: {inline_string: \"hello\\n\"}}\n"
            + "- match: {path: \"/empty\"}\n  direct_response: {status: 503}\n"
        try await Self.run(routes) { proxy in
            let hello = try await Support.get(proxy, "/hello")
            #expect(hello.status == 201)
            #expect(hello.body == "hello\n")
            #expect(hello.header("content-length") == "6")
            #expect(hello.header("content-type") == "text/plain")
            #expect(hello.header("server") == "ferry")
            let empty = try await Support.get(proxy, "/empty")
            #expect(empty.status == 503)
            #expect(empty.body == "")
            #expect(empty.header("content-length") == "0")
            #expect(empty.header("content-type") == nil)
        }
    }

    @Test("a direct response body can come from a file")
    func fileBody() async throws {
        let path = NSTemporaryDirectory() + "ferry-direct-\(UUID().uuidString).html"
        let text = "<p>from a file</p>\n"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await Self.run("- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {filename: \"\(path)\"}}")
        { proxy in
            let response = try await Support.get(proxy, "/page")
            #expect(response.status == 200)
            #expect(response.body == text)
            #expect(response.header("content-length") == String(text.utf8.count))
        }
    }

    @Test("HEAD of a direct response gets the headers, the body's content-length, and no body")
    func headGetsNoBody() async throws {
        try await Self.run(
            "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: \"hello\\n\"}}"
        ) { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: a\r\n\r\n")
                let responses = await connection.responses(2, headRequests: [0])
                try #require(responses.count == 2)
                #expect(responses[0].status == 200)
                #expect(responses[0].header("content-length") == "6")
                #expect(responses[0].header("content-type") == "text/plain")
                #expect(responses[0].body.isEmpty)
                // The next response starts right after the HEAD response's headers.
                #expect(responses[1].bodyText == "hello\n")
            }
        }
    }

    static let redirects = """
        - match: {prefix: "/old"}
          redirect: {path_redirect: "/new"}
        - match: {prefix: "/pre/"}
          redirect: {prefix_rewrite: "/post/"}
        - match: {prefix: "/secure"}
          redirect: {https_redirect: true}
        - match: {prefix: "/port"}
          redirect: {port_redirect: 8443}
        - match: {prefix: "/strip"}
          redirect: {path_redirect: "/stripped", strip_query: true, response_code: PERMANENT_REDIRECT}
        - match: {prefix: "/host"}
          redirect: {host_redirect: "other.example", response_code: FOUND}
        - match: {prefix: "/see"}
          redirect: {path_redirect: "/seen", response_code: SEE_OTHER}
        - match: {prefix: "/temp"}
          redirect: {scheme_redirect: https, response_code: TEMPORARY_REDIRECT}
        """

    /// GETs each (path, Host) and compares "status location" with the expected one; a
    /// failure lists every case. Redirects have no body.
    static func expectRedirects(_ proxy: ProxyHarness, _ cases: [(path: String, host: String, expected: String)],
                                sourceLocation: SourceLocation = #_sourceLocation) async throws {
        var actual: [String] = []
        for (path, host, _) in cases {
            let response = try await Support.get(proxy, path, host: host)
            #expect(response.body == "", sourceLocation: sourceLocation)
            #expect(response.header("content-length") == "0", sourceLocation: sourceLocation)
            actual.append("\(host)\(path) → \(response.status) \(response.header("location") ?? "-")")
        }
        #expect(actual == cases.map { "\($0.host)\($0.path) → \($0.expected)" }, sourceLocation: sourceLocation)
    }

    @Test("redirect Location from path_redirect, prefix_rewrite, port, host, strip_query; else the query is kept")
    func redirectLocations() async throws {
        try await Self.run(Self.redirects) { proxy in
            try await Self.expectRedirects(proxy, [
                ("/old?a=1", "example.com:8080", "301 http://example.com:8080/new?a=1"),
                ("/pre/x/y?z=1", "example.com:8080", "301 http://example.com:8080/post/x/y?z=1"),
                ("/port/p", "example.com:8080", "301 http://example.com:8443/port/p"),
                ("/strip/a?b=c", "example.com:8080", "308 http://example.com:8080/stripped"),
                ("/host/a", "example.com:8080", "302 http://other.example/host/a"),
                ("/see?q", "example.com:8080", "303 http://example.com:8080/seen?q"),
            ])
        }
    }

    @Test("https_redirect and scheme_redirect switch to https and drop the default port 80")
    func httpsRedirect() async throws {
        try await Self.run(Self.redirects) { proxy in
            try await Self.expectRedirects(proxy, [
                ("/secure/p?q=1", "example.com", "301 https://example.com/secure/p?q=1"),
                ("/secure/p?q=1", "example.com:80", "301 https://example.com/secure/p?q=1"),
                ("/temp", "example.com", "307 https://example.com/temp"),
            ])
        }
    }

    @Test("https_redirect keeps a port other than 80, as Envoy does")
    func httpsRedirectKeepsPort() async throws {
        try await Self.run(Self.redirects) { proxy in
            try await Self.expectRedirects(proxy, [
                ("/secure/p?q=1", "example.com:443", "301 https://example.com:443/secure/p?q=1"),
                ("/secure/p?q=1", "example.com:8080", "301 https://example.com:8080/secure/p?q=1"),
                ("/temp", "example.com:8080", "307 https://example.com:8080/temp"),
            ])
        }
    }
}
