import FerryTestKit
import Foundation
import Testing

/// Connection-level timeouts on the real network: the cluster's connect_timeout, the
/// downstream idle timeout (HCM common_http_protocol_options.idle_timeout) and the upstream
/// idle timeout (the cluster's HttpProtocolOptions common_http_protocol_options.idle_timeout).
///
/// The connect timeout uses `BlackholeListener`: a loopback listener with a full accept queue,
/// where Linux drops further SYNs. Checked against the real Envoy 1.40 with the same trick and
/// connect_timeout 0.25s: 503 "upstream connect error or disconnect/reset before headers. reset
/// reason: connection timeout", flag UF, details upstream_reset_before_response_started
/// {connection_timeout}, upstream_cx_connect_timeout counted per attempt.
@Suite("Timeouts: connections")
struct ConnectionTimeoutTests {
    static func withBlackhole(_ body: (Int) async throws -> Void) async throws {
        guard let blackhole = BlackholeListener.start() else {
            Issue.record("could not open a loopback listener")
            return
        }
        defer { blackhole.stop() }
        try #require(blackhole.isBlackholing, "this kernel answers SYNs past a full accept queue")
        try await body(blackhole.port)
    }

    static func blackholeCluster(_ port: Int) -> String {
        "- name: blackhole\n  type: STATIC\n  connect_timeout: 0.25s\n  load_assignment:\n    cluster_name: blackhole\n"
            + "    endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: "
            + "{address: 127.0.0.1, port_value: \(port)}}}}]}]\n"
    }

    @Test("connect_timeout: a connect that never completes gives 503 UF 'reset reason: connection timeout'")
    func connectTimeout() async throws {
        try await Self.withBlackhole { (port) async throws in
            let routes = RetryRig.route("/", cluster: "blackhole")
            try await RetryRig.run([], routes: routes, extraClusters: Self.blackholeCluster(port)) { (proxy, log) async throws in
                let started = ContinuousClock.now
                let response = try await Curl.fetch(proxy.url("/"))
                #expect(ContinuousClock.now - started < .seconds(3))
                #expect(response.status == 503)
                #expect(
                    response.body
                        == "upstream connect error or disconnect/reset before headers. reset reason: connection timeout")
                let entry = await RetryRig.entry(log)
                #expect(entry?.flags == ["UF"])
                #expect(entry?.details.hasPrefix("upstream_reset_before_response_started{connection_timeout") == true)
                #expect(try await proxy.stat("cluster.blackhole.upstream_cx_connect_timeout") == 1)
            }
        }
    }

    @Test(
        "the connect timeout's details are Envoy's upstream_reset_before_response_started{connection_timeout}")
    func connectTimeoutDetails() async throws {
        try await Self.withBlackhole { (port) async throws in
            let routes = RetryRig.route("/", cluster: "blackhole")
            try await RetryRig.run([], routes: routes, extraClusters: Self.blackholeCluster(port)) { (proxy, log) async throws in
                _ = try await Curl.fetch(proxy.url("/"))
                #expect(await RetryRig.entry(log)?.details == "upstream_reset_before_response_started{connection_timeout}")
            }
        }
    }

    @Test("connect-failure retries a connect timeout: two timeouts counted, flags UF and URX")
    func connectTimeoutRetried() async throws {
        try await Self.withBlackhole { (port) async throws in
            let routes = RetryRig.retry("retry_on: connect-failure, num_retries: 1", cluster: "blackhole")
            try await RetryRig.run([], routes: routes, extraClusters: Self.blackholeCluster(port)) { (proxy, log) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 503)
                #expect(await RetryRig.entry(log)?.flags == ["UF", "URX"])
                #expect(try await proxy.stat("cluster.blackhole.upstream_cx_connect_timeout") == 2)
                #expect(try await proxy.stat("cluster.blackhole.upstream_rq_retry") == 1)
            }
        }
    }

    @Test("a refused connect fails at once, without waiting for connect_timeout, and is not a connect timeout")
    func connectRefused() async throws {
        let refused = try FreePort.dead()
        let cluster = TestConfig.cluster("refused", endpoints: [.init(port: refused)], extra: "")
            .replacingOccurrences(of: "connect_timeout: 1s", with: "connect_timeout: 5s")
        try await RetryRig.run([], routes: RetryRig.route("/", cluster: "refused"), extraClusters: cluster) { (proxy, _) async throws in
            let started = ContinuousClock.now
            #expect(try await Curl.fetch(proxy.url("/")).status == 503)
            #expect(ContinuousClock.now - started < .seconds(4))
            #expect(try await proxy.stat("cluster.refused.upstream_cx_connect_fail") == 1)
            #expect(try await proxy.stat("cluster.refused.upstream_cx_connect_timeout") == 0)
        }
    }

    @Test("downstream idle_timeout: the proxy closes a keep-alive connection left idle after its request")
    func downstreamIdleTimeout() async throws {
        try await FlakyUpstream.with([.respond(200)]) { (upstream) async throws in
            let hcm = "common_http_protocol_options: {idle_timeout: 2s}\n"
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: hcm) { (proxy, _) async throws in
                // Connect right after start: the idle deadline is computed from the worker's cached
                // clock, which is only as fresh as the worker's last read (see the disabled test below).
                try await RawConnection.with(port: proxy.port) { (connection) async throws in
                    try await connection.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    #expect(await connection.responses(1).first?.status == 200)
                    #expect(!connection.isClosed)
                    #expect(await connection.waitForClose(timeout: .seconds(6)))
                }
                #expect(try await proxy.stat("http.ingress_http.downstream_cx_idle_timeout") == 1)
            }
        }
    }

    @Test(
        "downstream idle_timeout counts from the connection's arrival even after the worker was quiet")
    func downstreamIdleAfterQuietSpell() async throws {
        try await FlakyUpstream.with([.respond(200)]) { (upstream) async throws in
            let hcm = "common_http_protocol_options: {idle_timeout: 0.3s}\n"
            try await RetryRig.run([upstream], routes: RetryRig.route(), hcmExtra: hcm) { (proxy, _) async throws in
                try await Task.sleep(for: .milliseconds(600))
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
            }
        }
    }

    static let upstreamIdle = """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            common_http_protocol_options: {idle_timeout: 0.3s}
            explicit_http_config: {http_protocol_options: {}}
        """

    @Test("upstream idle_timeout: a pooled upstream connection is closed once idle, and the next request reconnects")
    func upstreamIdleTimeout() async throws {
        try await FlakyUpstream.with([.respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route(), clusterExtra: Self.upstreamIdle) { (proxy, _) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(await upstream.wait(timeout: .seconds(5)) { $0.connectionsClosed == 1 })
                #expect(try await proxy.stat("cluster.flaky.upstream_cx_idle_timeout") == 1)
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(upstream.connectionsOpened == 2)
            }
        }
    }

    @Test("without an upstream idle_timeout (1 h by default) sequential requests reuse one upstream connection")
    func upstreamConnectionReused() async throws {
        try await FlakyUpstream.with([.respond(200)]) { (upstream) async throws in
            try await RetryRig.run([upstream], routes: RetryRig.route()) { (proxy, _) async throws in
                for _ in 0..<3 { #expect(try await Curl.fetch(proxy.url("/")).status == 200) }
                try await Task.sleep(for: .milliseconds(400))
                #expect(upstream.connectionsOpened == 1)
                #expect(upstream.connectionsClosed == 0)
                #expect(try await proxy.stat("cluster.flaky.upstream_cx_idle_timeout") == 0)
            }
        }
    }
}
