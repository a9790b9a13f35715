import FerryTestKit
import Foundation
import Testing

/// File access logs: Envoy's default format, text_format_source with several commands, and
/// json_format. (`is_optional` filters only concern config loading and are not tested here.)
@Suite("Access logs")
struct AccessLogTests {
    static let routes = """
        - match: {prefix: "/api/"}
          name: api-route
          route: {cluster: backend, prefix_rewrite: "/v1/"}
        - match: {prefix: "/"}
          name: direct-route
          direct_response: {status: 200, body: {inline_string: "direct"}}
        """

    static func run(
        _ log: AccessLogFile, format: String? = nil, json: String? = nil,
        _ body: (ProxyHarness, EchoServer) async throws -> Void
    ) async throws {
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                let entry =
                    json != nil ? log.yaml(json: json) : format.map { log.yaml(format: $0) } ?? log.yaml(format: nil)
                return TestConfig.bootstrap(routes: routes, clusters: [("backend", [ports[0]])], hcmExtra: entry)
            }
        ) { proxy, echoes in
            try await body(proxy, echoes[0])
        }
    }

    @Test(
        "the default format writes Envoy's line: time, request line, code, flags, bytes, durations, headers, upstream")
    func defaultFormat() async throws {
        try await AccessLogFile.with { log in
            try await Self.run(log) { proxy, echo in
                let forwarded = try await Curl.perform([
                    "-A", "test-agent/1.0", "-H", "x-request-id: rid-1",
                    "-H", "Host: logged.example", proxy.url("/api/items?x=1"),
                ])
                let bytesSent = forwarded.body.utf8.count
                _ = try await Curl.perform([
                    "-A", "test-agent/1.0", "-H", "x-request-id: rid-2", "-H", "Host: logged.example",
                    "-H", "x-forwarded-for: 1.2.3.4", proxy.url("/direct"),
                ])
                let lines = await log.waitForLines(2)
                try #require(lines.count == 2)
                let time = #"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\]"#
                // The original path is logged (X-ENVOY-ORIGINAL-PATH?:PATH), not the rewritten one.
                let first =
                    "\(time) \"GET /api/items\\?x=1 HTTP/1\\.1\" 200 - 0 \(bytesSent) \\d+ \\d+ \"-\" "
                    + "\"test-agent/1\\.0\" \"rid-1\" \"logged\\.example\" \"127\\.0\\.0\\.1:\(echo.port)\""
                #expect(lines[0].wholeMatch(of: try Regex(first)) != nil, "\(lines[0])")
                let second =
                    "\(time) \"GET /direct HTTP/1\\.1\" 200 - 0 6 \\d+ - \"1\\.2\\.3\\.4\" \"test-agent/1\\.0\" "
                    + "\"rid-2\" \"logged\\.example\" \"-\""
                #expect(lines[1].wholeMatch(of: try Regex(second)) != nil, "\(lines[1])")
            }
        }
    }

    @Test("the default format marks a request without a route with NR and no upstream")
    func defaultFormatNoRoute() async throws {
        try await AccessLogFile.with { log in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.answer("{path: \"/only\"}", "only"), clusters: [], hcmExtra: log.yaml(format: nil))
            }) { proxy, _ in
                _ = try await Curl.perform(["-A", "agent", "-H", "x-request-id: rid", proxy.url("/missing")])
                let line = try #require(await log.waitForLines(1).first)
                let pattern =
                    #"\[[^\]]+\] "GET /missing HTTP/1\.1" 404 NR 0 0 \d+ - "-" "agent" "rid" "127\.0\.0\.1:\d+" "-""#
                #expect(line.wholeMatch(of: try Regex(pattern)) != nil, "\(line)")
            }
        }
    }

    @Test("text_format_source expands REQ, RESP, PROTOCOL, codes, bytes, cluster, route name and addresses")
    func textFormat() async throws {
        let format =
            "%REQ(:METHOD)% %REQ(X-CUSTOM)% %REQ(X-ABSENT)% %RESP(X-ECHO-NAME)% %PROTOCOL% %RESPONSE_CODE% "
            + "%RESPONSE_FLAGS% %BYTES_RECEIVED% %UPSTREAM_CLUSTER% %ROUTE_NAME% %UPSTREAM_HOST% "
            + "%DOWNSTREAM_REMOTE_ADDRESS%"
        try await AccessLogFile.with { log in
            try await Self.run(log, format: format) { proxy, echo in
                _ = try await Curl.perform([
                    "-H", "x-custom: custom value", "--data-binary", "12345", proxy.url("/api/x"),
                ])
                _ = try await Curl.perform([proxy.url("/other")])
                let lines = await log.waitForLines(2)
                try #require(lines.count == 2)
                let forwarded =
                    "POST custom value - backend HTTP/1.1 200 - 5 backend api-route 127.0.0.1:\(echo.port) 127.0.0.1:"
                #expect(lines[0].hasPrefix(forwarded), "\(lines[0])")
                let clientPort = Int(lines[0].dropFirst(forwarded.count))
                #expect(clientPort != nil && clientPort != proxy.port, "\(lines[0])")
                #expect(lines[1].hasPrefix("GET - - - HTTP/1.1 200 - 0 - direct-route - 127.0.0.1:"), "\(lines[1])")
            }
        }
    }

    @Test("json_format writes one JSON object per line with typed numbers and null for missing values")
    func jsonFormat() async throws {
        let json =
            "{method: \"%REQ(:METHOD)%\", code: \"%RESPONSE_CODE%\", path: \"%REQ(:PATH)%\", "
            + "cluster: \"%UPSTREAM_CLUSTER%\", missing: \"%REQ(X-NOPE)%\", proto: \"%PROTOCOL%\", fixed: literal}"
        try await AccessLogFile.with { log in
            try await Self.run(log, json: json) { proxy, _ in
                _ = try await Curl.perform([proxy.url("/api/x?y=1")])
                let line = try #require(await log.waitForLines(1).first)
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                #expect(object["method"] as? String == "GET")
                #expect(object["code"] as? Int == 200)
                #expect(object["path"] as? String == "/v1/x?y=1")
                #expect(object["cluster"] as? String == "backend")
                #expect(object["missing"] is NSNull)
                #expect(object["proto"] as? String == "HTTP/1.1")
                #expect(object["fixed"] as? String == "literal")
                #expect(object.count == 7)
            }
        }
    }

    @Test("json_format lines are byte-for-byte Envoy's: keys sorted, compact")
    func jsonFormatBytes() async throws {
        let json =
            "{method: \"%REQ(:METHOD)%\", code: \"%RESPONSE_CODE%\", missing: \"%REQ(X-NOPE)%\", "
            + "cluster: \"%UPSTREAM_CLUSTER%\"}"
        try await AccessLogFile.with { log in
            try await Self.run(log, json: json) { proxy, _ in
                _ = try await Curl.perform([proxy.url("/api/x")])
                #expect(
                    await log.waitForLines(1) == [
                        "{\"cluster\":\"backend\",\"code\":200,\"method\":\"GET\",\"missing\":null}"
                    ])
            }
        }
    }
}
