import FerryTestKit
import Foundation
import Testing

/// `grpc_health_check` against Python's grpcio health servicer (`grpc.health.v1`): healthy only
/// on grpc-status 0 and SERVING, as Envoy.
@Suite("gRPC health checking")
struct GRPCHealthCheckTests {
    /// A grpcio server: "" and "svc.ok" SERVING, "svc.down" NOT_SERVING, others unknown (NOT_FOUND).
    static let server = """
        import grpc
        from concurrent import futures
        from grpc_health.v1 import health, health_pb2, health_pb2_grpc
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        h = health.HealthServicer()
        h.set("", health_pb2.HealthCheckResponse.SERVING)
        h.set("svc.ok", health_pb2.HealthCheckResponse.SERVING)
        h.set("svc.down", health_pb2.HealthCheckResponse.NOT_SERVING)
        health_pb2_grpc.add_HealthServicer_to_server(h, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        print(port, flush=True)
        server.wait_for_termination()
        """

    /// Runs the grpcio server and hands `body` its port.
    static func withServer(_ body: (Int) async throws -> Void) async throws {
        try await ChildProcess.with("/usr/bin/env", ["python3", "-c", server]) { (child) async throws in
            let started = await Support.eventually { Int(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil }
            let port = try #require(started ? Int(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil,
                                    "grpcio server did not start: \(child.stderr)")
            try await body(port)
        }
    }

    static func cluster(port: Int, service: String) -> String {
        """
        - name: pool
          type: STATIC
          connect_timeout: 1s
          typed_extension_protocol_options:
            envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
              "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
              explicit_http_config: {http2_protocol_options: {}}
          health_checks:
          - {timeout: 1s, interval: 0.2s, no_traffic_interval: 0.2s, unhealthy_threshold: 1, healthy_threshold: 1,
             grpc_health_check: {service_name: "\(service)", initial_metadata: [{header: {key: x-probe, value: ferry}}]}}
          load_assignment:
            cluster_name: pool
            endpoints:
            - lb_endpoints:
              - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}}
        """
    }

    /// The proxy's view after the cluster warmed (the first check ran): healthy count and stats.
    static func check(port: Int, service: String, _ body: (ProxyHarness) async throws -> Void) async throws {
        let proxy = try await ProxyHarness.start(yaml: TestConfig.bootstrap(
            routes: Support.forward("{prefix: \"/\"}", to: "pool"), clusters: [],
            extraClusters: cluster(port: port, service: service)))
        try await withCleanup { try await body(proxy) } cleanup: { await proxy.stop() }
    }

    @Test("SERVING (the server as a whole, and a named service) keeps the endpoint healthy", arguments: ["", "svc.ok"])
    func serving(service: String) async throws {
        try await Self.withServer { (port) async throws in
            try await Self.check(port: port, service: service) { (proxy) async throws in
                #expect(try await proxy.stat("cluster.pool.membership_healthy") == 1)
                let passed = try await Support.eventually { try await proxy.stat("cluster.pool.health_check.success") ?? 0 >= 2 }
                #expect(passed)
                #expect(try await proxy.stat("cluster.pool.health_check.failure") == 0)
            }
        }
    }

    @Test("NOT_SERVING and an unknown service (grpc-status NOT_FOUND) fail the endpoint", arguments: ["svc.down", "svc.unknown"])
    func notServing(service: String) async throws {
        try await Self.withServer { (port) async throws in
            try await Self.check(port: port, service: service) { (proxy) async throws in
                #expect(try await proxy.stat("cluster.pool.membership_healthy") == 0)
                #expect(try await proxy.stat("cluster.pool.health_check.failure") ?? 0 >= 1)
                #expect(try await proxy.stat("cluster.pool.health_check.network_failure") == 0)
            }
        }
    }

    @Test("a server that is down is a network failure")
    func serverDown() async throws {
        try await Self.check(port: try FreePort.dead(), service: "") { (proxy) async throws in
            #expect(try await proxy.stat("cluster.pool.membership_healthy") == 0)
            #expect(try await proxy.stat("cluster.pool.health_check.network_failure") ?? 0 >= 1)
        }
    }
}
