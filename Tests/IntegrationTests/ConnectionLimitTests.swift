import FerryTestKit
import Testing

/// The runtime key `envoy.resource_limits.listener.<name>.connection_limit` (static layer of
/// `layered_runtime`) caps a listener's open connections: connections over the cap are closed
/// right after accept and counted in `listener.<address>.downstream_cx_overflow`; once a
/// connection closes, a new one is accepted again.
///
/// Checked against Envoy 1.40 with a limit of 2: the third and fourth connections were closed
/// without a response (Envoy: FIN; Ferry: FIN or RST, depending on whether the request bytes
/// arrived before the close), downstream_cx_overflow was 2, downstream_cx_total 3, and a new
/// connection after closing one was served.
@Suite("Hardening: listener connection limit")
struct ConnectionLimitTests {
    static let runtime = """
        layered_runtime:
          layers:
          - name: static
            static_layer:
              envoy.resource_limits.listener.main.connection_limit: 2

        """

    static func run(_ body: (ProxyHarness) async throws -> Void) async throws {
        try await ProxyHarness.with(
            upstreams: ["backend"],
            yaml: { ports in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "backend"), clusters: [("backend", [ports[0]])])
                    + runtime
            }
        ) { proxy, _ in try await body(proxy) }
    }

    /// Opens a connection, sends a GET and returns it with the status of its response (0: none).
    static func open(_ proxy: ProxyHarness, path: String) async throws -> (RawConnection, Int) {
        let connection = try await RawConnection.connect(port: proxy.port)
        // Over the limit the proxy may already have closed (or reset) the connection: sending can fail.
        try? await connection.send("GET \(path) HTTP/1.1\r\nHost: a\r\n\r\n")
        let status = await connection.responses(1, timeout: .seconds(5)).first?.status ?? 0
        return (connection, status)
    }

    @Test("connections over the limit are closed at once and counted; a freed slot is used again")
    func overflowIsRefusedAndRecovers() async throws {
        try await Self.run { proxy in
            let (first, firstStatus) = try await Self.open(proxy, path: "/1")
            let (second, secondStatus) = try await Self.open(proxy, path: "/2")
            #expect([firstStatus, secondStatus] == [200, 200])
            for n in 3...4 {
                let (extra, status) = try await Self.open(proxy, path: "/\(n)")
                #expect(status == 0, "connection \(n) over the limit was served")
                #expect(await extra.waitForClose(timeout: .seconds(5)), "connection \(n) over the limit stayed open")
                #expect(extra.received.isEmpty)
                await extra.close()
            }
            #expect(await proxy.localStat("listener.127.0.0.1_0.downstream_cx_overflow") == 2)
            #expect(await proxy.localStat("listener.127.0.0.1_0.downstream_cx_total") == 2)
            // The two admitted connections are still usable.
            try await second.send("GET /2-again HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(await second.responses(2).map(\.status) == [200, 200])
            await first.close()
            // The slot frees when the proxy sees the close; poll with fresh connections.
            var admitted = false
            for _ in 0..<50 where !admitted {
                let (next, status) = try await Self.open(proxy, path: "/after")
                admitted = status == 200
                await next.close()
                if !admitted { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(admitted, "no connection was admitted after one closed")
            #expect(await proxy.localStat("listener.127.0.0.1_0.downstream_cx_active") ?? 0 <= 2)
            await second.close()
        }
    }
}
