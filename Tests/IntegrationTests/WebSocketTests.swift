import FerryTestKit
import Foundation
import Testing

/// WebSocket upgrade passthrough: a 101 from the upstream turns the connection into a
/// byte tunnel both ways, when upgrade_configs allow it.
@Suite("WebSocket upgrades")
struct WebSocketTests {
    static let upgradeRequest = """
        GET /ws/chat HTTP/1.1\r
        Host: a\r
        Connection: Upgrade\r
        Upgrade: websocket\r
        Sec-WebSocket-Version: 13\r
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r
        \r\n
        """

    static let switching =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello-from-upstream"

    static func run(
        hcmExtra: String = "", routeExtra: String = "",
        _ body: (ProxyHarness, ScriptedUpstream) async throws -> Void
    ) async throws {
        try await ScriptedUpstream.with({ _ in .upgrade(switching) }) { upstream in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/ws\"}", to: "ws", extra: routeExtra)
                        + Support.answer("{prefix: \"/\"}", "NotWebSocket"),
                    clusters: [("ws", [upstream.port])], hcmExtra: hcmExtra)
            }) { proxy, _ in
                try await body(proxy, upstream)
            }
        }
    }

    /// Upgrades, then checks that bytes flow both ways while the connection stays open, and
    /// that the upstream saw the upgrade request.
    static func expectTunnel(_ proxy: ProxyHarness, _ upstream: ScriptedUpstream) async throws {
        try await expectClientTunnel(proxy)
        let head = try #require(upstream.requestHeads.first).lowercased()
        #expect(head.hasPrefix("get /ws/chat http/1.1\r\n"))
        #expect(head.contains("\r\nupgrade: websocket"))
        #expect(head.contains("\r\nconnection: upgrade"))
        #expect(head.contains("\r\nsec-websocket-key: dghlihnhbxbszsbub25jzq=="))
    }

    /// An HTTP/1.1 client upgrades; the 101 arrives with the upstream's first bytes, and each
    /// message sent comes back while the connection stays open.
    static func expectClientTunnel(_ proxy: ProxyHarness) async throws {
        try await RawConnection.with(port: proxy.port) { connection in
            try await connection.send(upgradeRequest)
            let switched = await connection.wait(timeout: .seconds(5)) { bytes, _ in
                String(decoding: bytes, as: UTF8.self).hasSuffix("hello-from-upstream")
            }
            #expect(switched, "received: \(connection.text)")
            let response = try #require(WireResponse.parseAll(connection.received, closed: false).first)
            #expect(response.status == 101)
            #expect(response.header("upgrade")?.lowercased() == "websocket")
            #expect(response.header("connection")?.lowercased() == "upgrade")
            #expect(response.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
            // As Envoy: no upstream service time on a 101 (the request goes on as the tunnel).
            #expect(response.header("x-envoy-upstream-service-time") == nil)
            // Client bytes must arrive promptly (echoed back) while the connection is open,
            // not only when it closes.
            for message in ["ping-1", "ping-2 with more bytes"] {
                let before = connection.received.count
                try await connection.send(message)
                let echoed = await connection.wait(timeout: .seconds(2)) { bytes, _ in
                    bytes.count >= before + message.utf8.count
                }
                #expect(echoed, "no echo of \(message)")
                #expect(String(decoding: connection.received.suffix(message.utf8.count), as: UTF8.self) == message)
                #expect(!connection.isClosed)
            }
        }
    }

    @Test("with websocket in the connection manager's upgrade_configs, 101 is relayed and bytes flow both ways")
    func hcmUpgrade() async throws {
        try await Self.run(hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]") { proxy, upstream in
            try await Self.expectTunnel(proxy, upstream)
            #expect(try await proxy.stat("http.ingress_http.downstream_cx_upgrades_total") == 1)
        }
    }

    @Test("a route's upgrade_configs alone enable the upgrade (websocket-ws-route style)")
    func routeUpgrade() async throws {
        try await Self.run(routeExtra: "upgrade_configs: [{upgrade_type: websocket}]") { proxy, upstream in
            try await Self.expectTunnel(proxy, upstream)
        }
    }

    @Test("without upgrade_configs the upgrade is refused with 403 and a close; the upstream sees nothing")
    func upgradeRefused() async throws {
        try await Self.run { proxy, upstream in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(Self.upgradeRequest)
                #expect(await connection.waitForClose())
                let response = try #require(WireResponse.parseAll(connection.received, closed: true).first)
                #expect(response.status == 403)
                #expect(response.bodyText == "")
                #expect(response.header("connection") == "close")
            }
            #expect(upstream.requestHeads.isEmpty)
            #expect(try await proxy.stat("http.ingress_http.downstream_rq_ws_on_non_ws_route") == 1)
        }
    }

    @Test("a route can disable an upgrade the connection manager allows")
    func routeDisables() async throws {
        try await Self.run(
            hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]",
            routeExtra: "upgrade_configs: [{upgrade_type: websocket, enabled: false}]"
        ) { proxy, upstream in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(Self.upgradeRequest)
                #expect(await connection.waitForClose())
                #expect(WireResponse.parseAll(connection.received, closed: true).first?.status == 403)
            }
            #expect(upstream.requestHeads.isEmpty)
        }
    }

    @Test("allow_connect: an HTTP/2 client's extended CONNECT (RFC 8441) reaches an HTTP/1.1 upstream as an upgrade, gets 200 and a tunnel both ways")
    func extendedConnectOverHTTP2() async throws {
        try await Self.run(hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]\nhttp2_protocol_options: {allow_connect: true}") { proxy, upstream in
            let report = try await H2Client.run("websocket", port: proxy.port, ["/ws/chat", "ping-1", "ping-2 with more bytes"])
            #expect(report.settings?["8"] == 1, "SETTINGS_ENABLE_CONNECT_PROTOCOL: \(report)")
            #expect(report.streams?["1"]?.status == "200", "\(report)")
            #expect(report.body?.hasPrefix("hello-from-upstream") == true, "\(report)")
            #expect(report.echoes == ["ping-1", "ping-2 with more bytes"], "\(report)")
            #expect(report.streams?["1"]?.ended == true, "\(report)")
            // The upstream saw the HTTP/1.1 upgrade the extended CONNECT stands for.
            let request = try #require(upstream.requestHeads.first)
            #expect(request.hasPrefix("GET /ws/chat HTTP/1.1\r\n"), "\(request)")
            #expect(request.lowercased().contains("\r\nupgrade: websocket\r\n") && request.lowercased().contains("\r\nconnection: upgrade"), "\(request)")
            #expect(!request.lowercased().contains("transfer-encoding"), "\(request)")
            #expect(try await proxy.stat("http.ingress_http.downstream_cx_upgrades_total") == 1)
            let closed = try await Support.eventually { try await proxy.stat("http.ingress_http.downstream_cx_upgrades_active") == 0 }
            #expect(closed)
        }
        // Without allow_connect the setting is not offered, and the client cannot ask.
        try await Self.run(hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]") { proxy, _ in
            let report = try await H2Client.run("settings", port: proxy.port)
            #expect(report.settings?["8"] == nil, "\(report)")
        }
    }

    /// An h2c WebSocket server (Python h2) taking RFC 8441 extended CONNECT: it answers 200 with
    /// `sec-websocket-accept` and "hello-from-upstream", echoes DATA, and ends its side when the
    /// client does. Each request's header block goes to stdout as one JSON line after the port.
    static let extendedConnectServer = """
        import json, socket, threading
        import h2.config, h2.connection, h2.events, h2.settings
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
        print(s.getsockname()[1], flush=True)
        def serve(c):
            conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
            conn.local_settings = h2.settings.Settings(client=False, initial_values={h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL: 1})
            conn.initiate_connection(); c.sendall(conn.data_to_send())
            while True:
                data = c.recv(65536)
                if not data:
                    return
                for e in conn.receive_data(data):
                    if isinstance(e, h2.events.RequestReceived):
                        print(json.dumps([[k.decode(), v.decode()] for k, v in e.headers]), flush=True)
                        conn.send_headers(e.stream_id, [(":status", "200"), ("sec-websocket-accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")])
                        conn.send_data(e.stream_id, b"hello-from-upstream")
                    elif isinstance(e, h2.events.DataReceived):
                        conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                        if e.data:
                            conn.send_data(e.stream_id, e.data)
                    elif isinstance(e, h2.events.StreamEnded):
                        conn.end_stream(e.stream_id)
                c.sendall(conn.data_to_send())
        while True:
            c, _ = s.accept()
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        """

    @Test("an extended CONNECT whose upstream has not switched protocols holds the client at its stream window")
    func extendedConnectHeldBeforeSwitch() async throws {
        try await TCPTestServer.with(.hold) { upstream in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(routes: Support.forward("{prefix: \"/ws\"}", to: "ws"), clusters: [("ws", [upstream.port])],
                                     hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]\nhttp2_protocol_options: {allow_connect: true, initial_stream_window_size: 65536}")
            }) { proxy, _ in
                // The upstream never answers: the client may send its window's worth, no more.
                let report = try await H2Client.run("upload", port: proxy.port, ["/ws/chat", String(4 * 1024 * 1024), "2", "connect"])
                #expect((report.sent ?? 0) <= 65536, "sent \(report.sent ?? 0) bytes before any 101")
                #expect(report.streams?["1"]?.status == nil)
            }
        }
    }

    @Test("allow_connect on an HTTP/2 cluster: an HTTP/1.1 WebSocket upgrade goes up as an extended CONNECT, its 200 comes back as 101 and the tunnel works")
    func upgradeToHTTP2Cluster() async throws {
        try await ChildProcess.with("/usr/bin/env", ["python3", "-c", Self.extendedConnectServer]) { (child) async throws in
            let started = await Support.eventually { Int(child.stdout.split(separator: "\n").first ?? "") != nil }
            let port = try #require(started ? Int(child.stdout.split(separator: "\n").first ?? "") : nil, "\(child.stderr)")
            for allow in [true, false] {
                let yaml = TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/ws\"}", to: "ws"), clusters: [("ws", [port])],
                    hcmExtra: "upgrade_configs: [{upgrade_type: websocket}]",
                    clusterExtra: HTTP2UpstreamTests.http2Options(allow ? "{allow_connect: true}" : "{}"))
                try await ProxyHarness.with(yaml: { _ in yaml }) { proxy, _ in
                    if allow {
                        try await Self.expectClientTunnel(proxy)
                        let line = try #require(child.stdout.split(separator: "\n").dropFirst().first, "\(child.stdout)")
                        let fields = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [[String]])
                        let pseudo = Dictionary(fields.filter { $0[0].hasPrefix(":") }.map { ($0[0], $0[1]) }, uniquingKeysWith: { a, _ in a })
                        #expect(pseudo[":method"] == "CONNECT" && pseudo[":protocol"] == "websocket" && pseudo[":path"] == "/ws/chat", "\(fields)")
                        #expect(!fields.contains { $0[0] == "upgrade" || $0[0] == "connection" }, "\(fields)")
                        #expect(fields.contains { $0 == ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="] }, "\(fields)")
                        #expect(try await proxy.stat("http.ingress_http.downstream_cx_upgrades_total") == 1)
                    } else {
                        // Without allow_connect an upgrade cannot cross into HTTP/2: 403, as before.
                        try await RawConnection.with(port: proxy.port) { connection in
                            try await connection.send(Self.upgradeRequest)
                            #expect(await connection.waitForClose())
                            #expect(try WireResponse.parseAll(connection.received, closed: true).first?.status == 403)
                        }
                    }
                }
            }
        }
    }
}
