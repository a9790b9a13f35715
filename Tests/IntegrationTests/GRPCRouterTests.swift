import FerryTestKit
import Foundation
import Testing

/// gRPC behaviour of the connection manager and router over HTTP/1.1, side by side with the
/// real Envoy 1.40 on the same config: `max_stream_duration` and `grpc-timeout`, the route
/// timeout's gRPC answer, and `retry_on` gRPC conditions.
@Suite("gRPC router", .serialized)
struct GRPCRouterTests {
    static let durationRoutes = """
        - match: {prefix: "/msd/"}
          route: {cluster: grpc, max_stream_duration: {max_stream_duration: 0.3s}}
        - match: {prefix: "/gt/"}
          route: {cluster: grpc, max_stream_duration: {grpc_timeout_header_max: 0s, max_stream_duration: 5s}}
        - match: {prefix: "/capped/"}
          route: {cluster: grpc, max_stream_duration: {grpc_timeout_header_max: 0.2s, grpc_timeout_header_offset: 0.05s}}
        - match: {prefix: "/ut/"}
          route: {cluster: grpc, timeout: 0.3s}

        """

    /// A slow gRPC call under `prefix` gets a trailers-only `grpcStatus` with `message`, the same
    /// call as plain HTTP a 504 with `message` as its body; a fast call goes through.
    static func expectTimeoutReplies(_ proxy: GRPCProxy, prefix: String, grpcStatus: String, message: String,
                                     sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let grpc = try await proxy.call(prefix + "slow")
        #expect(grpc.status == 200 && grpc.header("grpc-status") == grpcStatus, "\(proxy.name)", sourceLocation: sourceLocation)
        #expect(grpc.header("grpc-message") == message, "\(proxy.name)", sourceLocation: sourceLocation)
        let plain = try await proxy.call(prefix + "slow", contentType: "text/plain")
        #expect(plain.status == 504, "\(proxy.name)", sourceLocation: sourceLocation)
        #expect(String(decoding: plain.body, as: UTF8.self) == message, "\(proxy.name)", sourceLocation: sourceLocation)
        let fast = try await proxy.call(prefix + "fast")
        #expect(fast.header("grpc-status") == "0", "\(proxy.name)", sourceLocation: sourceLocation)
    }

    @Test("max_stream_duration: a gRPC call gets DEADLINE_EXCEEDED, plain HTTP a 504, as Envoy; grpc-timeout caps the stream")
    func maxStreamDuration() async throws {
        try await GRPCSupport.with(GRPCSupport.slowOrOK, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, routes: Self.durationRoutes) }) {
            proxies, _ in
            for proxy in proxies {
                try await Self.expectTimeoutReplies(proxy, prefix: "/msd/", grpcStatus: "4", message: "downstream duration timeout")

                let started = Date()
                let header = try await proxy.call("/gt/slow", headers: ["grpc-timeout": "200m"])
                #expect(header.header("grpc-status") == "4", "\(proxy.name)")
                #expect(Date().timeIntervalSince(started) < 1.2, "\(proxy.name)")
                let zero = try await proxy.call("/gt/slow", headers: ["grpc-timeout": "0S"])
                #expect(zero.header("grpc-status") == "4", "\(proxy.name)")
                for malformed in ["abc", "300", "100000000m"] {
                    let ignored = try await proxy.call("/gt/slow", headers: ["grpc-timeout": malformed])
                    #expect(ignored.header("grpc-status") == "0", "\(proxy.name) \(malformed)")
                }
                // 10 s from the header, capped at 0.2 s, minus the 0.05 s offset.
                let capped = try await proxy.call("/capped/slow", headers: ["grpc-timeout": "10S"])
                #expect(capped.header("grpc-status") == "4", "\(proxy.name)")
                let stats = try await proxy.stats("max_duration_reached")
                #expect(stats["http.ingress_http.downstream_rq_max_duration_reached"] == "5", "\(proxy.name)")
            }
        }
    }

    @Test("access logs of duration limits and timeouts read as Envoy's: code, flags, details and gRPC status")
    func accessLogs() async throws {
        try await GRPCSupport.withAccessLogs(GRPCSupport.slowOrOK, yaml: { port, log in
            GRPCSupport.bootstrap(port: port, routes: Self.durationRoutes, hcmExtra: log)
        }) { proxies, logs in
            for proxy in proxies {
                _ = try await proxy.call("/msd/slow")
                _ = try await proxy.call("/msd/slow", contentType: "text/plain")
                _ = try await proxy.call("/gt/slow", headers: ["grpc-timeout": "0S"])
                _ = try await proxy.call("/ut/slow")
            }
            let envoy = await logs[0].waitForLines(4)
            let ferry = await logs[1].waitForLines(4)
            #expect(ferry == ["200 - max_duration_timeout DeadlineExceeded", "504 - max_duration_timeout -",
                              "200 - max_duration_timeout DeadlineExceeded", "200 UT response_timeout Unavailable"])
            #expect(envoy == ferry)
        }
    }

    @Test("a route timeout and a connect failure answer a gRPC call with a trailers-only UNAVAILABLE, as Envoy")
    func routerFailures() async throws {
        let dead = try FreePort.dead()
        let routes = Self.durationRoutes + "- match: {prefix: \"/dead/\"}\n  route: {cluster: dead}\n"
        try await GRPCSupport.with(GRPCSupport.slowOrOK, envoy: true, yaml: {
            GRPCSupport.bootstrap(port: $0, routes: routes, clusters: [("dead", [dead])])
        }) { proxies, _ in
            for proxy in proxies {
                let timeout = try await proxy.call("/ut/slow")
                #expect(timeout.status == 200, "\(proxy.name)")
                #expect(timeout.header("grpc-status") == "14", "\(proxy.name)")
                #expect(timeout.header("grpc-message") == "upstream request timeout", "\(proxy.name)")
                #expect(timeout.header("content-type") == "application/grpc", "\(proxy.name)")
                let refused = try await proxy.call("/dead/x")
                #expect(refused.status == 200, "\(proxy.name)")
                #expect(refused.header("grpc-status") == "14", "\(proxy.name)")
                #expect(refused.header("grpc-message")?.hasPrefix("upstream connect error or disconnect/reset before headers") == true,
                        "\(proxy.name)")
                #expect(refused.body.isEmpty, "\(proxy.name)")
            }
        }
    }

    @Test("the connection manager's max_stream_duration caps every stream")
    func hcmMaxStreamDuration() async throws {
        try await GRPCSupport.with(GRPCSupport.slowOrOK, envoy: true, yaml: {
            GRPCSupport.bootstrap(port: $0, hcmExtra: "common_http_protocol_options: {max_stream_duration: 0.3s}")
        }) { proxies, _ in
            for proxy in proxies {
                let response = try await proxy.call("/any/slow")
                #expect(response.header("grpc-status") == "4", "\(proxy.name)")
                #expect(response.header("grpc-message") == "downstream duration timeout", "\(proxy.name)")
            }
        }
    }

    @Test("the cluster's max_stream_duration resets a slow upstream request: 504 UMSDR, UNAVAILABLE for gRPC, as Envoy")
    func upstreamMaxStreamDuration() async throws {
        let options = """
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                common_http_protocol_options: {max_stream_duration: 0.3s}
                explicit_http_config: {http_protocol_options: {}}
            """
        try await GRPCSupport.withAccessLogs(GRPCSupport.slowOrOK, yaml: { port, log in
            GRPCSupport.bootstrap(port: port, hcmExtra: log, clusterExtra: options)
        }) { proxies, logs in
            for proxy in proxies {
                try await Self.expectTimeoutReplies(proxy, prefix: "/p/", grpcStatus: "14", message: "upstream max stream duration reached")
                let stats = try await proxy.stats("cluster.grpc.upstream_rq_")
                #expect(stats["cluster.grpc.upstream_rq_max_duration_reached"] == "2", "\(proxy.name)")
                #expect(stats["cluster.grpc.upstream_rq_tx_reset"] == "0", "\(proxy.name)")
            }
            let envoy = await logs[0].waitForLines(3)
            let ferry = await logs[1].waitForLines(3)
            #expect(ferry == ["200 UMSDR upstream_max_stream_duration_reached Unavailable",
                              "504 UMSDR upstream_max_stream_duration_reached -", "200 - via_upstream OK"])
            #expect(envoy == ferry)
        }
    }

    /// Answers `grpc-status` 14 until a path has been called `failures` times (per proxy, by
    /// the `x-proxy` header), then OK.
    final class Flaky: @unchecked Sendable {
        let lock = NSLock()
        var counts: [String: Int] = [:]
        let failures: Int
        let status: Int

        init(failures: Int, status: Int = 14) {
            self.failures = failures
            self.status = status
        }

        func reply(_ call: GRPCCall) -> GRPCReply {
            let key = (call.header("x-proxy") ?? "") + call.path
            let n = lock.withLock { () -> Int in
                counts[key, default: 0] += 1
                return counts[key]!
            }
            return n <= failures ? .trailersOnly(status: status, message: "try again") : .trailersOnly(status: 0)
        }
    }

    @Test("retry_on unavailable retries a trailers-only UNAVAILABLE, with Envoy's stats and URX when retries run out")
    func retryUnavailable() async throws {
        let flaky = Flaky(failures: 1)
        let routes = """
            - match: {prefix: "/always/"}
              route: {cluster: grpc, retry_policy: {retry_on: "unavailable", num_retries: 2, retry_back_off: {base_interval: 0.01s}}}
            - match: {prefix: "/once/"}
              route: {cluster: grpc, retry_policy: {retry_on: "cancelled,unavailable", num_retries: 2, retry_back_off: {base_interval: 0.01s}}}

            """
        try await GRPCSupport.with({ call in
            call.path.hasPrefix("/always/") ? .trailersOnly(status: 14) : flaky.reply(call)
        }, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, routes: routes) }) { proxies, upstream in
            for proxy in proxies {
                let before = upstream.calls.count
                let exhausted = try await proxy.call("/always/x", headers: ["x-proxy": proxy.name])
                #expect(exhausted.header("grpc-status") == "14", "\(proxy.name)")
                #expect(upstream.calls.count - before == 3, "\(proxy.name)")
                let recovered = try await proxy.call("/once/x", headers: ["x-proxy": proxy.name])
                #expect(recovered.header("grpc-status") == "0", "\(proxy.name)")
                let stats = try await proxy.stats("cluster.grpc.")
                #expect(stats["cluster.grpc.upstream_rq_retry"] == "3", "\(proxy.name)")
                #expect(stats["cluster.grpc.upstream_rq_retry_limit_exceeded"] == "1", "\(proxy.name)")
                #expect(stats["cluster.grpc.upstream_rq_retry_success"] == "1", "\(proxy.name)")
                #expect(stats["cluster.grpc.retry.upstream_rq_200"] == "3", "\(proxy.name)")
            }
        }
    }

    @Test("x-envoy-retry-grpc-on from an internal client adds gRPC conditions; from an edge client it is only removed",
          arguments: [true, false])
    func retryGRPCOnHeader(trusted: Bool) async throws {
        let flaky = Flaky(failures: 1, status: 1)
        let hcm = trusted ? RetryRig.loopbackInternal : ""
        try await GRPCSupport.with({ flaky.reply($0) }, envoy: true, yaml: { GRPCSupport.bootstrap(port: $0, hcmExtra: hcm) }) {
            proxies, upstream in
            for proxy in proxies {
                let response = try await proxy.call("/h/x", headers: ["x-proxy": proxy.name, "x-envoy-retry-grpc-on": "cancelled"])
                #expect(response.header("grpc-status") == (trusted ? "0" : "1"), "\(proxy.name)")
                let mine = upstream.calls.filter { $0.header("x-proxy") == proxy.name }
                #expect(mine.count == (trusted ? 2 : 1), "\(proxy.name)")
                #expect(mine.allSatisfy { $0.header("x-envoy-retry-grpc-on") == nil }, "\(proxy.name)")
                #expect(mine.allSatisfy { $0.frames == [GRPCFrame(payload: [1, 2, 3])] }, "\(proxy.name)")
            }
        }
    }
}
