import FerryTestKit
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

    /// Upgrades, then checks that bytes flow both ways while the connection stays open.
    static func expectTunnel(_ proxy: ProxyHarness, _ upstream: ScriptedUpstream) async throws {
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
        let head = try #require(upstream.requestHeads.first).lowercased()
        #expect(head.hasPrefix("get /ws/chat http/1.1\r\n"))
        #expect(head.contains("\r\nupgrade: websocket"))
        #expect(head.contains("\r\nconnection: upgrade"))
        #expect(head.contains("\r\nsec-websocket-key: dghlihnhbxbszsbub25jzq=="))
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
}
