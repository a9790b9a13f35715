import FerryTestKit
import Foundation
import Testing

/// gRPC through Ferry with real grpcio clients and servers (GRPCSupport.swift): HTTP/2 in front
/// (h2c, prior knowledge) and HTTP/2 to the upstreams, every call kind, status codes, trailers,
/// deadlines, cancellation, and per-call balancing of one client channel.
@Suite("gRPC proxying")
struct GRPCProxyTests {
    static let http2Upstream = """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            explicit_http_config: {http2_protocol_options: {}}
        """

    static func with(servers: Int = 1, routeExtra: String = "", clusterExtra: String = "",
                     _ body: (ProxyHarness, [ChildProcess]) async throws -> Void) async throws {
        try await GRPCPeer.withServers(servers) { ports, children in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Support.forward("{prefix: /test.Echo/}", to: "grpc", extra: routeExtra),
                                     clusters: [("grpc", ports)], clusterExtra: http2Upstream + "\n" + clusterExtra)
            }) { proxy, _ in try await body(proxy, children) }
        }
    }

    @Test("a unary call keeps its message and the server's trailers; it went over HTTP/2 both ways")
    func unary() async throws {
        try await Self.with { proxy, _ in
            let reply = try await GRPCPeer.client("unary", port: proxy.port, ["hello"])
            #expect(reply["reply"] as? String == "grpc-0:hello")
            #expect((reply["trailers"] as? [String: String])?["x-served-by"] == "grpc-0")
            #expect(reply["code"] as? Int == 0)
            #expect(try await proxy.stat("http.ingress_http.downstream_rq_http2_total") == 1)
            #expect(try await proxy.stat("cluster.grpc.upstream_cx_http2_total") == 1)
        }
    }

    @Test("server, client and bidirectional streams pass every message in order")
    func streaming() async throws {
        try await Self.with { proxy, _ in
            let reply = try await GRPCPeer.client("streams", port: proxy.port)
            #expect(reply["server"] as? [String] == (0..<5).map { "grpc-0:\($0)" })
            #expect(reply["client"] as? String == "grpc-0:4:10")
            #expect(reply["bidi"] as? [String] == ["grpc-0:1", "grpc-0:2", "grpc-0:3"])
        }
    }

    @Test("the server's status codes and messages reach the client unchanged")
    func statuses() async throws {
        try await Self.with { proxy, _ in
            for code in [3, 5, 8, 13, 14] {
                let reply = try await GRPCPeer.client("fail", port: proxy.port, [String(code)])
                #expect(reply["code"] as? Int == code && reply["details"] as? String == "failed on purpose", "\(reply)")
            }
        }
    }

    @Test("the client's deadline travels as grpc-timeout; a route timeout answers UNAVAILABLE as Envoy maps 504")
    func deadlines() async throws {
        try await Self.with { proxy, _ in
            let inTime = try await GRPCPeer.client("slow", port: proxy.port, ["100", "5"])
            let reply = try #require(inTime["reply"] as? String)
            // The server saw the client's deadline (seconds left, under 5).
            let remaining = Double(reply.split(separator: ":").last ?? "") ?? 99
            #expect(remaining > 3 && remaining <= 5, "\(reply)")
            let late = try await GRPCPeer.client("slow", port: proxy.port, ["3000", "0.5"])
            #expect(late["code"] as? Int == 4, "\(late)")  // DEADLINE_EXCEEDED
        }
        try await Self.with(routeExtra: "timeout: 0.3s") { proxy, _ in
            let timedOut = try await GRPCPeer.client("slow", port: proxy.port, ["3000", "10"])
            #expect(timedOut["code"] as? Int == 14, "\(timedOut)")  // UNAVAILABLE
            #expect(try await proxy.stat("cluster.grpc.upstream_rq_timeout") == 1)
        }
    }

    @Test("a cancelled call is reset at the server too")
    func cancellation() async throws {
        try await Self.with { proxy, servers in
            let reply = try await GRPCPeer.client("cancel", port: proxy.port, ["0.5"])
            #expect(reply["cancelled"] as? Bool == true)
            let seen = await Support.eventually { servers[0].stdout.contains("cancelled") }
            #expect(seen, "the server did not see the cancellation: \(servers[0].stdout)")
            #expect(try await proxy.stat("http.ingress_http.downstream_rq_rx_reset") == 1)
        }
    }

    @Test("one client channel's 3,000 calls spread evenly over three servers (each within ±5% of a third)")
    func perCallBalancing() async throws {
        try await Self.with(servers: 3) { proxy, _ in
            let reply = try await GRPCPeer.client("balance", port: proxy.port, ["3000"], timeout: 180)
            let counts = try #require(reply["counts"] as? [String: Int])
            #expect(counts.count == 3, "\(counts)")
            for (server, calls) in counts { #expect(abs(calls - 1000) <= 50, "\(server) took \(calls) calls") }
            #expect(try await proxy.stat("http.ingress_http.downstream_cx_http2_total") == 1)
        }
    }
}
