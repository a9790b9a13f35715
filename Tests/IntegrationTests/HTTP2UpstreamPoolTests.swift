import FerryTestKit
import Foundation
import NIOCore
import Testing

/// The HTTP/2 pool's limits and timers: circuit breakers counting streams, idle timeout and
/// keepalive PINGs, against `H2EchoServer`.
@Suite("HTTP/2 upstream pool limits")
struct HTTP2UpstreamPoolTests {
    static func run(_ server: H2EchoServer, http2: String = "{}", common: String? = nil, breakers: String = "",
                    _ body: (ProxyHarness) async throws -> Void) async throws {
        let extra = HTTP2UpstreamTests.http2Options(http2, common: common) + (breakers.isEmpty ? "" : "\n" + breakers)
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [server.port])],
                                        clusterExtra: extra)
        let proxy = try await ProxyHarness.start(yaml: yaml)
        try await withCleanup { try await body(proxy) } cleanup: { await proxy.stop() }
    }

    @Test("max_requests counts streams: 4 concurrent requests with max_requests 2 leave 2 answered 503 UO")
    func maxRequestsCountsStreams() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(600)
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server, breakers: "circuit_breakers: {thresholds: [{max_requests: 2}]}") { (proxy) async throws in
                let statuses = try await HTTP2UpstreamTests.concurrent(4, proxy.url("/")).map(\.status).sorted()
                #expect(statuses == [200, 200, 503, 503])
                #expect(server.streams == 2 && server.connections == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_pending_overflow") == 2)
            }
        }
    }

    @Test("max_connections 1 with one stream per connection: concurrent requests wait for the stream and all succeed")
    func maxConnectionsQueues() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(200)
        try await H2EchoServer.with(options) { (server) async throws in
            try await Self.run(server, http2: "{max_concurrent_streams: 1}",
                               breakers: "circuit_breakers: {thresholds: [{max_connections: 1}]}") { (proxy) async throws in
                let statuses = try await HTTP2UpstreamTests.concurrent(3, proxy.url("/")).map(\.status)
                #expect(statuses == [200, 200, 200])
                #expect(server.connections == 1 && server.maxOpenStreamsOnAConnection == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_pending_total") ?? 0 >= 2)
            }
        }
    }

    @Test("idle_timeout closes a connection without streams; the next request opens another")
    func idleTimeout() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server, common: "{idle_timeout: 0.3s}") { (proxy) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                let closed = try await Support.eventually { try await proxy.stat("cluster.h2.upstream_cx_idle_timeout") == 1 }
                #expect(closed)
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(server.connections == 2)
                // The second connection may have idled out too by now.
                #expect(try await proxy.stat("cluster.h2.upstream_cx_destroy_local") ?? 0 >= 1)
            }
        }
    }

    @Test("keepalive PINGs that the server answers keep the connection: no keepalive_timeout, one connection")
    func keepaliveAnswered() async throws {
        try await H2EchoServer.with { (server) async throws in
            try await Self.run(server, http2: "{connection_keepalive: {interval: 0.1s, timeout: 0.5s}}") { (proxy) async throws in
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                try await Task.sleep(for: .milliseconds(1200))
                #expect(try await Curl.fetch(proxy.url("/")).status == 200)
                #expect(server.connections == 1)
                #expect(try await proxy.stat("cluster.h2.http2.keepalive_timeout") == 0)
            }
        }
    }

    /// A peer that sends its SETTINGS and then answers nothing (no PING ACKs, no responses).
    /// Runs a Python peer `script` that prints its port first, for the length of `body`.
    static func withPeer(_ script: String, _ body: (Int) async throws -> Void) async throws {
        try await ChildProcess.with("/usr/bin/env", ["python3", "-c", script]) { (child) async throws in
            let started = await Support.eventually { Int(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) != nil }
            let port = try #require(started ? Int(child.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) : nil, "\(child.stderr)")
            try await body(port)
        }
    }

    static let silentPeer = """
        import socket
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
        print(s.getsockname()[1], flush=True)
        c, _ = s.accept()
        c.sendall(bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        while c.recv(65536): pass
        """

    @Test("an unanswered keepalive PING closes the connection after its timeout: the stream on it fails, keepalive_timeout counts")
    func keepaliveTimeout() async throws {
        try await Self.withPeer(Self.silentPeer) { port in
            let yaml = TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [port])],
                clusterExtra: HTTP2UpstreamTests.http2Options("{connection_keepalive: {interval: 0.2s, timeout: 0.3s}}"))
            let proxy = try await ProxyHarness.start(yaml: yaml)
            try await withCleanup {
                let result = try await Curl.fetch(proxy.url("/"))
                #expect(result.status == 503)
                #expect(result.body.hasSuffix("reset reason: connection termination"))
                #expect(try await proxy.stat("cluster.h2.http2.keepalive_timeout") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_destroy_local_with_active_rq") == 1)
            } cleanup: {
                await proxy.stop()
            }
        }
    }

    /// An h2c server (Python h2) whose first connection answers one request and then goes
    /// dead (reads, answers nothing, not even PINGs); later connections answer every request.
    static let dyingPeer = """
        import socket, threading
        import h2.config, h2.connection, h2.events
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
        print(s.getsockname()[1], flush=True)
        def serve(c, dies):
            conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
            conn.initiate_connection(); c.sendall(conn.data_to_send())
            answered = 0
            while True:
                data = c.recv(65536)
                if not data:
                    return
                events = conn.receive_data(data)
                if dies and answered:
                    continue
                for e in events:
                    if isinstance(e, h2.events.RequestReceived):
                        conn.send_headers(e.stream_id, [(":status", "200")])
                        conn.send_data(e.stream_id, b"ok", end_stream=True)
                        answered += 1
                c.sendall(conn.data_to_send())
        first = True
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c, first), daemon=True).start()
            first = False
        """

    @Test("connection_idle_interval: a stream about to use an idle connection sends a PING first; a dead connection is found within the timeout and the request retried")
    func idleIntervalPing() async throws {
        try await Self.withPeer(Self.dyingPeer) { port in
            let yaml = TestConfig.bootstrap(
                routes: Support.forward("{prefix: \"/\"}", to: "h2", extra: "timeout: 10s, retry_policy: {retry_on: reset, num_retries: 1}"),
                clusters: [("h2", [port])],
                clusterExtra: HTTP2UpstreamTests.http2Options("{connection_keepalive: {timeout: 0.3s, connection_idle_interval: 0.5s}}"))
            let proxy = try await ProxyHarness.start(yaml: yaml)
            try await withCleanup {
                let first = try await Curl.fetch(proxy.url("/1"))
                #expect(first.status == 200 && first.body == "ok")
                // The connection idles past 0.5 s (and its peer dies): the next stream's PING
                // goes unanswered, the connection closes after 0.3 s and the retry finds a
                // new connection; without the PING the request would wait for the 10 s timeout.
                try await Task.sleep(for: .milliseconds(800))
                let started = ContinuousClock.now
                let second = try await Curl.fetch(proxy.url("/2"))
                #expect(second.status == 200 && second.body == "ok", "\(second.body)")
                #expect(ContinuousClock.now - started < .seconds(5))
                #expect(try await proxy.stat("cluster.h2.http2.keepalive_timeout") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_rq_retry") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_total") == 2)
            } cleanup: {
                await proxy.stop()
            }
        }
    }

    /// nghttpd over TLS (ALPN h2 only) serving `s.txt` on `port`, for the length of `body`.
    static func withTLSNghttpd(_ fixture: TLSFixture, port: Int, _ body: () async throws -> Void) async throws {
        let root = try TemporaryDirectory.make(prefix: "nghttpd-tls")
        defer { try? FileManager.default.removeItem(at: root) }
        try "secure\n".write(to: root.appendingPathComponent("s.txt"), atomically: true, encoding: .utf8)
        let arguments = ["-a", "127.0.0.1", "-d", root.path, String(port), fixture.server.keyPath, fixture.server.certificatePath]
        try await ChildProcess.with("/usr/sbin/nghttpd", arguments) { (child) async throws in
            let up = await Support.eventually {
                guard let probe = try? await RawConnection.connect(port: port) else { return false }
                await probe.close()
                return true
            }
            #expect(up, "nghttpd did not start: \(child.stderr)")
            try await body()
        }
    }

    /// openssl s_server -www over TLS (no ALPN: HTTP/1.1) on `port`, for the length of `body`.
    static func withTLSOpenSSL(_ fixture: TLSFixture, port: Int, _ body: () async throws -> Void) async throws {
        try await ChildProcess.with("/usr/bin/openssl", ["s_server", "-accept", "127.0.0.1:\(port)", "-www", "-cert",
                                                         fixture.server.certificatePath, "-key", fixture.server.keyPath]) { server in
            let up = await Support.eventually { (try? await Curl.fetch(["-k", "https://127.0.0.1:\(port)/"]))?.status == 200 }
            #expect(up, "s_server did not start: \(server.stderr)")
            try await body()
        }
    }

    @Test("HTTP/2 over upstream TLS: nghttpd with a certificate is reached with ALPN h2, the certificate verified")
    func overTLS() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        let port = try FreePort.pick()
        try await Self.withTLSNghttpd(fixture, port: port) {
            let tls = TestCertificates.transportSocket(downstream: false, TLSUpstreamTests.upstream(fixture, san: "localhost"))
            let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [port])],
                                            clusterExtra: tls + "\n" + HTTP2UpstreamTests.http2Options())
            let proxy = try await ProxyHarness.start(yaml: yaml)
            try await withCleanup {
                let result = try await Curl.fetch(proxy.url("/s.txt"))
                #expect(result.status == 200 && result.body == "secure\n", "\(result.body)")
                #expect(try await proxy.stat("cluster.h2.ssl.handshake") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http2_total") == 1)
            } cleanup: {
                await proxy.stop()
            }
        }
    }

    static let autoConfig = """
        typed_extension_protocol_options:
          envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
            "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
            auto_config: {http2_protocol_options: {}}
        """

    @Test("auto_config: ALPN picks HTTP/2 for a server offering h2 (later requests share its connection) and HTTP/1.1 for one that offers nothing, and follows a server that changes")
    func autoConfig() async throws {
        let fixture = try TLSFixture.make()
        defer { fixture.ca.remove() }
        let port = try FreePort.pick()
        let tls = TestCertificates.transportSocket(downstream: false, TLSUpstreamTests.upstream(fixture, san: "localhost"))
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "auto"), clusters: [("auto", [port])],
                                        clusterExtra: tls + "\n" + Self.autoConfig)
        let proxy = try await ProxyHarness.start(yaml: yaml)
        try await withCleanup {
            try await Self.withTLSNghttpd(fixture, port: port) {
                // The first request learns h2 and moves to the HTTP/2 pool; the others share that connection.
                for _ in 0..<2 {
                    let result = try await Curl.fetch(proxy.url("/s.txt"))
                    #expect(result.status == 200 && result.body == "secure\n", "\(result.body)")
                }
                let concurrent = try await HTTP2UpstreamTests.concurrent(6, proxy.url("/s.txt"))
                #expect(concurrent.map(\.status) == Array(repeating: 200, count: 6))
                #expect(try await proxy.stat("cluster.auto.upstream_cx_http2_total") == 1)
                #expect(try await proxy.stat("cluster.auto.upstream_cx_http1_total") == 0)
                #expect(try await proxy.stat("cluster.auto.upstream_cx_total") == 1)
                #expect(try await proxy.stat("cluster.auto.upstream_rq_total") == 8)
            }
            _ = try await Support.eventually { try await proxy.stat("cluster.auto.upstream_cx_active") == 0 }
            // The same address now answers without ALPN: the next connection, opened for the
            // HTTP/2 pool, finds HTTP/1.1 and moves to the HTTP/1 pool with its request.
            try await Self.withTLSOpenSSL(fixture, port: port) {
                for _ in 0..<2 {
                    let result = try await Curl.fetch(proxy.url("/"))
                    #expect(result.status == 200 && result.body.contains("TLSv1."), "\(result.body)")
                }
                #expect(try await proxy.stat("cluster.auto.upstream_cx_http1_total") ?? 0 >= 1)
                #expect(try await proxy.stat("cluster.auto.upstream_cx_http2_total") == 1)
            }
        } cleanup: {
            await proxy.stop()
        }
    }

    @Test("use_downstream_protocol_config: an HTTP/1 client's request goes upstream over HTTP/1.1")
    func downstreamProtocol() async throws {
        let echo = try await EchoServer.start(name: "h1")
        let options = """
            typed_extension_protocol_options:
              envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                use_downstream_protocol_config: {http2_protocol_options: {}}
            """
        let yaml = TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [echo.port])],
                                        clusterExtra: options)
        try await withCleanup {
            let proxy = try await ProxyHarness.start(yaml: yaml)
            try await withCleanup {
                let result = try await Curl.fetch(proxy.url("/"))
                #expect(result.status == 200)
                #expect(try EchoReply(result.body).version == "HTTP/1.1")
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http1_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http2_total") == 0)
            } cleanup: {
                await proxy.stop()
            }
        } cleanup: {
            await echo.stop()
        }
    }

    @Test("use_downstream_protocol_config: an HTTP/2 client's request goes upstream over HTTP/2")
    func downstreamProtocolHTTP2() async throws {
        try await H2EchoServer.with { (server) async throws in
            let options = """
                typed_extension_protocol_options:
                  envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
                    "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
                    use_downstream_protocol_config: {http2_protocol_options: {}}
                """
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [server.port])],
                                     clusterExtra: options)
            }) { proxy, _ in
                let result = try await Curl.perform(["--http2-prior-knowledge", proxy.url("/h2")])
                #expect(result.status == 200, "\(result.stderr)")
                #expect(server.streams == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http2_total") == 1)
                #expect(try await proxy.stat("cluster.h2.upstream_cx_http1_total") == 0)
            }
        }
    }

    @Test("a reload that replaces the cluster lets the in-flight stream finish, then closes its connection; new requests reconnect")
    func reloadDrains() async throws {
        var options = H2EchoServer.Options()
        options.delay = .milliseconds(600)
        try await H2EchoServer.with(options) { (server) async throws in
            func yaml(_ limit: Int) -> String {
                TestConfig.bootstrap(routes: Support.forward("{prefix: \"/\"}", to: "h2"), clusters: [("h2", [server.port])],
                                     clusterExtra: "per_connection_buffer_limit_bytes: \(limit)\n" + HTTP2UpstreamTests.http2Options())
            }
            try await ProxyHarness.withConfigFile(yaml: { _ in yaml(1_048_576) }) { (proxy, _, config) async throws in
                let inFlight = Task { try await Curl.fetch(proxy.url("/a")) }
                #expect(await Support.eventually { server.streams == 1 })
                try config.write(yaml(2_097_152))
                #expect(try await proxy.reload().status == 200)
                #expect(try await inFlight.value.status == 200)
                #expect(try await Curl.fetch(proxy.url("/b")).status == 200)
                #expect(server.connections == 2)
                let closed = try await Support.eventually { try await proxy.stat("cluster.h2.upstream_cx_destroy_local") == 1 }
                #expect(closed)
            }
        }
    }
}
