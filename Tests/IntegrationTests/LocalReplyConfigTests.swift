import FerryTestKit
import Foundation
import Testing

/// `local_reply_config`: mappers chosen by filters rewrite status and body; `body_format`
/// (text or JSON) lays out every local reply. Expected bytes were checked against Envoy 1.40.
@Suite("local_reply_config")
struct LocalReplyConfigTests {
    static let routes = """
        - match: {prefix: "/nohosts"}
          route: {cluster: nohosts}
        - match: {prefix: "/gone"}
          direct_response: {status: 410, body: {inline_string: "gone away"}}
        """

    static func run(_ localReply: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        let clusters = TestConfig.cluster(
            "nohosts", type: "STRICT_DNS", endpoints: [.init(address: "nohosts.test", port: 80)])
        try await ProxyHarness.with(
            yaml: { _ in
                TestConfig.bootstrap(
                    routes: routes, clusters: [], hcmExtra: "local_reply_config:\n" + localReply,
                    extraClusters: clusters)
            }, hostOverrides: ["nohosts.test": []]
        ) { proxy, _ in
            try await body(proxy)
        }
    }

    static func request(_ proxy: ProxyHarness, _ path: String, method: String = "GET") async throws -> Curl.Result {
        try await Curl.perform(["-X", method, proxy.url(path)])
    }

    @Test("a status_code_filter mapper changes status and body; other replies keep theirs")
    func statusCodeMapper() async throws {
        let config = """
              mappers:
              - filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 503, runtime_key: unused}}}}
                status_code: 502
                body: {inline_string: "mapped body"}
            """
        try await Self.run(config) { proxy in
            let mapped = try await Self.request(proxy, "/nohosts")
            #expect(mapped.status == 502)
            #expect(mapped.body == "mapped body")
            #expect(mapped.header("content-type") == "text/plain")
            #expect(mapped.header("content-length") == "11")
            let untouched = try await Self.request(proxy, "/gone")
            #expect(untouched.status == 410)
            #expect(untouched.body == "gone away")
            let noRoute = try await Self.request(proxy, "/none")
            #expect(noRoute.status == 404)
            #expect(noRoute.body == "")
        }
    }

    @Test("body_format with %RESPONSE_CODE% and %LOCAL_REPLY_BODY% lays out every local reply, mapped or not")
    func textBodyFormat() async throws {
        let config = """
              mappers:
              - filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 503, runtime_key: unused}}}}
                status_code: 502
                body: {inline_string: "mapped body"}
              body_format: {text_format_source: {inline_string: "[%RESPONSE_CODE%] %LOCAL_REPLY_BODY%\\n"}}
            """
        try await Self.run(config) { proxy in
            let mapped = try await Self.request(proxy, "/nohosts")
            #expect(mapped.status == 502)
            #expect(mapped.body == "[502] mapped body\n")
            #expect(mapped.header("content-type") == "text/plain")
            let direct = try await Self.request(proxy, "/gone")
            #expect(direct.body == "[410] gone away\n")
            #expect(direct.header("content-length") == "16")
            let noRoute = try await Self.request(proxy, "/none")
            #expect(noRoute.status == 404)
            #expect(noRoute.body == "[404] \n")
        }
    }

    @Test("a JSON body_format answers application/json with typed values in Envoy's layout")
    func jsonBodyFormat() async throws {
        let config = """
              body_format:
                json_format: {status: "%RESPONSE_CODE%", message: "%LOCAL_REPLY_BODY%", path: "%REQ(:PATH)%"}
            """
        try await Self.run(config) { proxy in
            let reply = try await Self.request(proxy, "/nohosts?x=1")
            #expect(reply.status == 503)
            #expect(reply.header("content-type") == "application/json")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(reply.body.utf8)) as? [String: Any])
            #expect(object["status"] as? Int == 503)
            #expect(object["message"] as? String == "no healthy upstream")
            #expect(object["path"] as? String == "/nohosts?x=1")
            #expect(object.count == 3)
        }
    }

    @Test("a JSON body_format is byte-for-byte Envoy's: keys sorted, one line, newline-terminated")
    func jsonBodyFormatBytes() async throws {
        let config = """
              body_format:
                json_format: {status: "%RESPONSE_CODE%", message: "%LOCAL_REPLY_BODY%", path: "%REQ(:PATH)%"}
            """
        try await Self.run(config) { proxy in
            let reply = try await Self.request(proxy, "/gone")
            #expect(reply.body == "{\"message\":\"gone away\",\"path\":\"/gone\",\"status\":410}\n")
            #expect(reply.header("content-length") == "52")
        }
    }

    @Test("a header_filter on :method (envoy-demo style) shapes GET replies only; the first matching mapper wins")
    func methodHeaderFilter() async throws {
        let config = """
              mappers:
              - filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 503, runtime_key: unused}}}}
                status_code: 502
                body: {inline_string: "mapped body"}
              - filter: {header_filter: {header: {name: ":method", string_match: {exact: "GET"}}}}
                body_format_override:
                  text_format_source: {inline_string: "<h1>%RESPONSE_CODE%</h1>\\n"}
                  content_type: "text/html; charset=UTF-8"
            """
        try await Self.run(config) { proxy in
            let get = try await Self.request(proxy, "/none")
            #expect(get.status == 404)
            #expect(get.body == "<h1>404</h1>\n")
            #expect(get.header("content-type") == "text/html; charset=UTF-8")
            let post = try await Self.request(proxy, "/none", method: "POST")
            #expect(post.status == 404)
            #expect(post.body == "")
            #expect(post.header("content-type") == nil)
            // 503 meets the first mapper before the GET one.
            let first = try await Self.request(proxy, "/nohosts")
            #expect(first.status == 502)
            #expect(first.body == "mapped body")
            #expect(first.header("content-type") == "text/plain")
        }
    }
}
