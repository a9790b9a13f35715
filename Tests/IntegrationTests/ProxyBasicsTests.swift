import FerryTestKit
import Foundation
import Testing

@Suite("Proxying through the real server with curl")
struct ProxyBasicsTests {
    @Test("a GET reaches the upstream with Envoy's request headers and comes back with Envoy's response headers")
    func basicGet() async throws {
        try await ProxyHarness.with(upstreams: ["backend"], yaml: { ports in
            TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: backend}", clusters: [("backend", [ports[0]])])
        }) { proxy, _ in
            let r = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/hello?x=1", headers: ["x-request-id": "client-id"])
            #expect(r.status == 200)
            #expect(r.header("server") == "ferry")
            #expect(r.header("x-envoy-upstream-service-time") != nil)
            #expect(r.header("x-echo-name") == "backend")
            #expect(r.body.contains("\"path\":\"/hello?x=1\""))
            #expect(r.body.contains("[\"x-forwarded-proto\",\"http\"]"))
            #expect(r.body.contains("[\"x-request-id\",\"client-id\"]"))
            #expect(r.body.contains("[\"x-envoy-expected-rq-timeout-ms\",\"15000\"]"))
        }
    }

    @Test("an unknown path answers 404 with no body, and the admin stats count it under no_route")
    func noRoute() async throws {
        try await ProxyHarness.with(yaml: { _ in
            TestConfig.bootstrap(routes: "- match: {path: \"/only\"}\n  direct_response: {status: 200, body: {inline_string: ok}}", clusters: [])
        }) { proxy, _ in
            let r = try await Curl.fetch("http://127.0.0.1:\(proxy.port)/other")
            #expect(r.status == 404)
            #expect(r.body.isEmpty)
            let stats = try await Curl.fetch("http://127.0.0.1:\(proxy.adminPort)/stats?filter=no_route")
            #expect(stats.body.contains("http.ingress_http.no_route: 1"))
        }
    }
}
