import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.network.tcp_proxy` through the real proxy on loopback: bytes both ways,
/// half-close, weighted clusters, timeouts, connect failures and retries, backpressure.
@Suite("tcp_proxy")
struct TCPProxyTests {
    static func single(_ cluster: String, ports: [Int], _ extra: String = "", clusterExtra: String = "") -> String {
        L4Config.bootstrap(listeners: L4Config.listener("l4", chains: L4Config.chain(L4Config.proxy(cluster, prefix: "l4", extra))),
                           clusters: L4Config.cluster(cluster, ports, clusterExtra))
    }

    @Test("bytes go both ways, a half-close passes through, and stats and the access log count the connection")
    func echo() async throws {
        try await TCPTestServer.with(.echo) { echo in
            try await AccessLogFile.with { log in
                let format = "%BYTES_RECEIVED% %BYTES_SENT% %UPSTREAM_HOST% %UPSTREAM_CLUSTER% %RESPONSE_FLAGS% %DOWNSTREAM_REMOTE_ADDRESS% %DURATION%"
                let yaml = Self.single("echo", ports: [echo.port], L4Config.accessLog(log, format))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                        try await client.send("hello, ")
                        try await client.send("world")
                        #expect(await client.wait { bytes, _ in bytes.count >= 12 })
                        // FIN from the client reaches the echo server, whose FIN comes back after the echo.
                        try await client.shutdownOutput()
                        #expect(await client.waitForClose())
                        #expect(client.text == "hello, world")
                    }
                    let line = try #require(await log.waitForLines(1).first)
                    let fields = line.split(separator: " ").map(String.init)
                    #expect(Array(fields.prefix(5)) == ["12", "12", "127.0.0.1:\(echo.port)", "echo", "-"], "\(line)")
                    #expect(fields[5].hasPrefix("127.0.0.1:") && Int(fields[6]) != nil, "\(line)")
                    let stats: [(String, Int)] = [
                        ("tcp.l4.downstream_cx_total", 1), ("tcp.l4.downstream_cx_rx_bytes_total", 12),
                        ("tcp.l4.downstream_cx_tx_bytes_total", 12), ("cluster.echo.upstream_cx_total", 1),
                        ("cluster.echo.upstream_cx_tx_bytes_total", 12), ("cluster.echo.upstream_cx_rx_bytes_total", 12),
                        ("cluster.echo.upstream_cx_active", 0), ("listener.127.0.0.1_0.downstream_cx_total", 1),
                    ]
                    for (name, value) in stats {
                        let current = try await proxy.stat(name)
                        #expect(current == value, "\(name)")
                    }
                }
            }
        }
    }

    @Test("weighted_clusters spreads connections by weight")
    func weighted() async throws {
        try await TCPTestServer.with(.close) { a in
            try await TCPTestServer.with(.close) { b in
                let weighted = "weighted_clusters: {clusters: [{name: a, weight: 80}, {name: b, weight: 20}]}"
                let yaml = L4Config.bootstrap(
                    listeners: L4Config.listener("l4", chains: L4Config.chain("stat_prefix: split, \(weighted)")),
                    clusters: L4Config.cluster("a", [a.port]) + L4Config.cluster("b", [b.port]))
                try await ProxyHarness.with(yaml: yaml) { proxy in
                    for _ in 0..<100 {
                        try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                            _ = await client.waitForClose()
                        }
                    }
                    #expect(a.connections + b.connections == 100)
                    // 80% of 100 with a standard deviation of 4: outside 60...96 is beyond 4 deviations.
                    #expect((60...96).contains(a.connections), "a got \(a.connections), b \(b.connections)")
                    #expect(b.connections > 0)
                }
            }
        }
    }

    @Test("no bytes either way for idle_timeout closes the connection and counts idle_timeout")
    func idleTimeout() async throws {
        try await TCPTestServer.with(.echo) { echo in
            try await ProxyHarness.with(yaml: Self.single("echo", ports: [echo.port], "idle_timeout: 0.3s")) { proxy in
                try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                    // Timed from before the send: the proxy's last activity (the echo) comes after
                    // it, so a correct close is at least the idle timeout later, however late this
                    // test sees the echo on a loaded machine.
                    let started = ContinuousClock.now
                    try await client.send("ping")
                    #expect(await client.wait { bytes, _ in bytes.count == 4 })
                    #expect(await client.waitForClose(timeout: .seconds(5)))
                    #expect(ContinuousClock.now - started >= .milliseconds(290))
                }
                #expect(try await proxy.stat("tcp.l4.idle_timeout") == 1)
            }
        }
    }

    @Test("max_downstream_connection_duration closes a busy connection too")
    func maxDuration() async throws {
        try await TCPTestServer.with(.echo) { echo in
            try await ProxyHarness.with(yaml: Self.single("echo", ports: [echo.port], "max_downstream_connection_duration: 0.4s")) { proxy in
                try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                    var closed = false
                    for _ in 0..<100 where !closed {
                        try? await client.send("x")
                        try await Task.sleep(for: .milliseconds(50))
                        closed = client.isClosed
                    }
                    #expect(closed)
                }
                #expect(try await proxy.stat("tcp.l4.max_downstream_connection_duration") == 1)
                #expect(try await proxy.stat("tcp.l4.idle_timeout") == 0)
            }
        }
    }

    @Test("a connect failure closes the downstream with UF,URX; max_connect_attempts tries another host")
    func connectFailure() async throws {
        let dead = try FreePort.dead()
        try await AccessLogFile.with { log in
            let yaml = Self.single("dead", ports: [dead], L4Config.accessLog(log, "%RESPONSE_FLAGS% %UPSTREAM_TRANSPORT_FAILURE_REASON%"))
            try await ProxyHarness.with(yaml: yaml) { proxy in
                try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                    try await client.send("lost")
                    #expect(await client.waitForClose())
                    #expect(client.received.isEmpty)
                }
                let line = await log.waitForLines(1).first
                #expect(line?.hasPrefix("UF,URX delayed_connect_error:_Connection_refused") == true, "\(line ?? "no line")")
                #expect(try await proxy.stat("cluster.dead.upstream_cx_connect_fail") == 1)
                #expect(try await proxy.stat("cluster.dead.upstream_cx_connect_attempts_exceeded") == 1)
            }
        }
        try await TCPTestServer.with(.echo) { echo in
            // Round robin alternates between the dead host and the live one: two attempts always reach it.
            try await ProxyHarness.with(yaml: Self.single("mixed", ports: [dead, echo.port], "max_connect_attempts: 2")) { proxy in
                for i in 0..<4 {
                    try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                        try await client.send("try \(i)")
                        #expect(await client.wait { bytes, _ in bytes.count == 5 }, "connection \(i)")
                    }
                }
                // Each connection whose pick starts at the dead host fails once: 3 or 4 of them, by where round robin starts.
                let failed = try await proxy.stat("cluster.mixed.upstream_cx_connect_fail") ?? 0
                #expect((3...4).contains(failed), "\(failed)")
                #expect(try await proxy.stat("cluster.mixed.upstream_cx_connect_attempts_exceeded") == 0)
            }
        }
    }

    @Test("a tcp_proxy to an undefined cluster closes connections and counts downstream_cx_no_route")
    func noRoute() async throws {
        let yaml = L4Config.bootstrap(listeners: L4Config.listener("l4", chains: L4Config.chain(L4Config.proxy("missing", prefix: "l4"))),
                                      clusters: L4Config.cluster("other", [1]))
        try await ProxyHarness.with(yaml: yaml) { proxy in
            try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                #expect(await client.waitForClose())
            }
            #expect(try await proxy.stat("tcp.l4.downstream_cx_no_route") == 1)
        }
    }

    @Test("16 MiB through an echo server arrive complete and in order")
    func largeTransfer() async throws {
        let chunk = (0..<(256 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let chunks = 64
        try await TCPTestServer.with(.echo) { echo in
            try await ProxyHarness.with(yaml: Self.single("echo", ports: [echo.port])) { proxy in
                try await RawConnection.with(port: proxy.port(of: "l4")) { client in
                    for _ in 0..<chunks { try await client.send(chunk) }
                    #expect(await client.wait(timeout: .seconds(60)) { bytes, _ in bytes.count >= chunk.count * chunks })
                    let received = client.received
                    #expect(received.count == chunk.count * chunks)
                    let intact = (0..<chunks).allSatisfy { i in received[(i * chunk.count)..<((i + 1) * chunk.count)].elementsEqual(chunk) }
                    #expect(intact)
                }
            }
        }
    }

    @Test("an upstream that does not read stops the downstream being read: memory stays bounded, nothing is lost")
    func backpressure() async throws {
        let chunk = [UInt8](repeating: 0x61, count: 256 * 1024)
        let chunks = 256  // 64 MiB, far more than socket buffers and the 1 MiB buffer limit hold
        try await TCPTestServer.with(.hold) { stalled in
            try await ProxyHarness.with(yaml: Self.single("stalled", ports: [stalled.port])) { proxy in
                let client = try await RawConnection.connect(port: proxy.port(of: "l4"))
                let (sent, writer) = SharedCount.sending(chunk, times: chunks, on: client)
                try await withCleanup {
                    try await sent.waitUntilStalled()
                    let read = try #require(try await proxy.stat("tcp.l4.downstream_cx_rx_bytes_total"))
                    #expect(sent.current < chunk.count * chunks, "the client was never held back")
                    // Kernel buffers on both sockets plus the proxy's 1 MiB limit: far below 64 MiB.
                    #expect(read < 24 * 1024 * 1024, "the proxy read \(read) bytes from a client its upstream does not read")
                    #expect(try await proxy.stat("tcp.l4.downstream_flow_control_paused_reading_total") ?? 0 >= 1)
                    stalled.startReading()
                    try await writer.value
                    let all = await Support.eventually(timeout: .seconds(60)) { stalled.bytesReceived == chunk.count * chunks }
                    #expect(all, "upstream read \(stalled.bytesReceived) of \(chunk.count * chunks)")
                } cleanup: {
                    writer.cancel()
                    await client.close()
                }
            }
        }
    }
}
