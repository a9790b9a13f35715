import FerryTestKit
import Testing

/// request/response_headers_to_add and _to_remove at route, virtual host and route
/// configuration level, with Envoy's append actions and command operators in values.
@Suite("Header mutations")
struct HeaderMutationTests {
    static let routeConfig = """
        request_headers_to_add:
        - header: {key: x-level, value: route-config}
        response_headers_to_add:
        - header: {key: x-response-level, value: route-config}
        virtual_hosts:
        - name: all
          domains: ["*"]
          request_headers_to_add:
          - header: {key: x-level, value: virtual-host}
          response_headers_to_add:
          - header: {key: x-response-level, value: virtual-host}
          routes:
          - match: {prefix: "/mutate"}
            request_headers_to_add:
            - header: {key: x-level, value: route}
            - header: {key: x-append, value: added}
              append_action: APPEND_IF_EXISTS_OR_ADD
            - header: {key: x-if-absent, value: added}
              append_action: ADD_IF_ABSENT
            - header: {key: x-overwrite, value: added}
              append_action: OVERWRITE_IF_EXISTS_OR_ADD
            - header: {key: x-overwrite-existing, value: added}
              append_action: OVERWRITE_IF_EXISTS
            - header: {key: x-legacy-append-false, value: added}
              append: false
            - header: {key: x-remote, value: "%DOWNSTREAM_REMOTE_ADDRESS%"}
            - header: {key: x-remote-ip, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%"}
            request_headers_to_remove: [x-remove-me]
            response_headers_to_add:
            - header: {key: x-response-level, value: route}
            - header: {key: x-served-by, value: "%UPSTREAM_CLUSTER%"}
            response_headers_to_remove: [x-echo-name]
            route: {cluster: backend}
          - match: {prefix: "/direct"}
            direct_response: {status: 200, body: {inline_string: "direct"}}
        """

    static func run(hcmExtra: String = "", _ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(routeConfig: routeConfig, clusters: [("backend", [ports[0]])], hcmExtra: hcmExtra)
            }
        ) { proxy, _ in
            try await body(proxy)
        }
    }

    @Test(
        "appended request headers arrive route first, then virtual host, then route configuration, after the client's")
    func levelOrder() async throws {
        try await Self.run { proxy in
            let echo = try await EchoReply(Support.get(proxy, "/mutate", headers: ["x-level": "client"]).body)
            #expect(echo.values("x-level") == ["client", "route", "virtual-host", "route-config"])
        }
    }

    @Test("append actions: append, add if absent, overwrite or add, overwrite only if present")
    func appendActions() async throws {
        try await Self.run { proxy in
            let present = try await EchoReply(
                Support.get(
                    proxy, "/mutate",
                    headers: [
                        "x-append": "client", "x-if-absent": "client", "x-overwrite": "client",
                        "x-overwrite-existing": "client",
                        "x-legacy-append-false": "client", "x-remove-me": "client",
                    ]
                ).body)
            #expect(present.values("x-append") == ["client", "added"])
            #expect(present.values("x-if-absent") == ["client"])
            #expect(present.values("x-overwrite") == ["added"])
            #expect(present.values("x-overwrite-existing") == ["added"])
            #expect(present.values("x-legacy-append-false") == ["added"])
            #expect(present.values("x-remove-me") == [])

            let absent = try await EchoReply(Support.get(proxy, "/mutate").body)
            #expect(absent.values("x-append") == ["added"])
            #expect(absent.values("x-if-absent") == ["added"])
            #expect(absent.values("x-overwrite") == ["added"])
            #expect(absent.values("x-overwrite-existing") == [])
            #expect(absent.values("x-legacy-append-false") == ["added"])
        }
    }

    @Test("%DOWNSTREAM_REMOTE_ADDRESS% is the client's ip:port and _WITHOUT_PORT its ip")
    func remoteAddressValues() async throws {
        try await Self.run { proxy in
            let echo = try await EchoReply(Support.get(proxy, "/mutate").body)
            let remote = try #require(echo.header("x-remote"))
            #expect(remote.wholeMatch(of: /127\.0\.0\.1:[0-9]{1,5}/) != nil, "x-remote: \(remote)")
            #expect(remote != "127.0.0.1:\(proxy.port)")
            #expect(echo.values("x-remote-ip") == ["127.0.0.1"])
        }
    }

    @Test("with use_remote_address false the remote address comes from x-forwarded-for, with port 0 as in Envoy")
    func remoteAddressFromXFF() async throws {
        try await Self.run(hcmExtra: "use_remote_address: false") { proxy in
            let echo = try await EchoReply(Support.get(proxy, "/mutate", headers: ["x-forwarded-for": "1.2.3.4"]).body)
            #expect(echo.values("x-remote-ip") == ["1.2.3.4"])
            #expect(echo.values("x-remote") == ["1.2.3.4:0"])
        }
    }

    @Test("response headers: upstream header removed, levels appended route first, commands evaluated")
    func responseHeaders() async throws {
        try await Self.run { proxy in
            let response = try await Support.get(proxy, "/mutate")
            #expect(response.status == 200)
            #expect(response.header("x-echo-name") == nil)
            #expect(
                response.headers.filter { $0.0 == "x-response-level" }.map(\.1) == [
                    "route", "virtual-host", "route-config",
                ])
            #expect(response.header("x-served-by") == "backend")
        }
    }

    @Test("a direct response carries the virtual host and route configuration response headers")
    func directResponseHeaders() async throws {
        try await Self.run { proxy in
            let response = try await Support.get(proxy, "/direct")
            #expect(response.body == "direct")
            #expect(
                response.headers.filter { $0.0 == "x-response-level" }.map(\.1) == ["virtual-host", "route-config"])
        }
    }
}
