import FerryConfig
import FerryTelemetry
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import FerryProxy

/// Drives `DownstreamHTTP1Handler` on an `EmbeddedChannel`: raw request bytes in, raw
/// response bytes out, virtual time for timeouts. Routes here answer locally (direct
/// responses, redirects, errors), so no upstream socket is involved.
final class DownstreamHarness {
    let loop = EmbeddedEventLoop()
    let channel: EmbeddedChannel
    let worker: Worker
    let store = StatsStore()

    /// `filters` replace the configured HTTP filters (test filters the config cannot name).
    init(routes: String, hcmExtra: String = "", filters: [StreamFilterFactory]? = nil) throws {
        let yaml = """
        static_resources:
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: 0}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                  stat_prefix: test
        \(hcmExtra.split(separator: "\n").map { "          " + $0 }.joined(separator: "\n"))
                  route_config:
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
        \(routes.split(separator: "\n").map { "              " + $0 }.joined(separator: "\n"))
        """
        let loaded = try ConfigLoader.load(yaml: yaml).get()
        let generation = try GenerationCompiler.compile(loaded, id: 1, store: store).get()
        let state = ServerState(startUptimeNanos: 0, startWallSeconds: 0)
        worker = Worker(index: 0, workerCount: 1, loop: loop, generation: generation, store: store, server: state,
                        logger: Logger(label: "test"))
        worker.install(generation, hosts: [:])
        let listener = generation.listeners[0]
        let chain = listener.chains[0]
        var hcm = chain.hcm!
        if let filters {
            hcm = CompiledHCM(config: hcm.config, routeTable: hcm.routeTable, stats: hcm.stats, accessLogs: hcm.accessLogs,
                              filterFactories: filters)
        }
        channel = EmbeddedChannel(handler: DownstreamHTTP1Handler(worker: worker, listener: listener, chain: chain, hcm: hcm), loop: loop)
        try channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 1234)).wait()
    }

    func send(_ text: String) throws {
        try channel.writeInbound(ByteBuffer(string: text))
    }

    /// Everything written to the client so far (flushed at the end of the loop's iteration).
    func received() throws -> String {
        loop.run()
        var out = ""
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { out += String(buffer: buffer) }
        return out
    }

    func counter(_ name: String) -> UInt64 {
        store.view(merging: [worker.stats.snapshot()]).counter(named: name) ?? 0
    }
}

@Suite("Downstream HTTP/1 handler on an EmbeddedChannel")
struct DownstreamHandlerTests {
    static let hello = "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: hi}}"

    @Test("a direct response is framed with content-length and the connection stays open")
    func directResponse() throws {
        let h = try DownstreamHarness(routes: Self.hello)
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-type: text/plain\r\n"))
        #expect(out.hasSuffix("\r\n\r\nhi"))
        #expect(h.channel.isActive)
        #expect(h.counter("http.test.downstream_rq_2xx") == 1)
        #expect(h.counter("http.test.rq_direct_response") == 1)
    }

    @Test("three pipelined requests in one write get three responses in order")
    func pipelining() throws {
        let h = try DownstreamHarness(routes: """
            - match: {path: "/a"}
              direct_response: {status: 200, body: {inline_string: A}}
            - match: {path: "/b"}
              direct_response: {status: 201, body: {inline_string: B}}
            - match: {path: "/c"}
              direct_response: {status: 202, body: {inline_string: C}}
            """)
        try h.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
        let out = try h.received()
        // Each response's body ends right before the next status line, so find the status lines by pattern.
        // "\r\n" is one Character in Swift, hence dropLast(1).
        let statuses = out.matches(of: /HTTP\/1\.1 \d{3} [A-Za-z ]+\r\n/).map { String(out[$0.range].dropLast(1)) }
        #expect(statuses == ["HTTP/1.1 200 OK", "HTTP/1.1 201 Created", "HTTP/1.1 202 Accepted"], "\(out)")
        #expect(out.hasSuffix("C"))
    }

    @Test("a request with both Content-Length and Transfer-Encoding gets 400 and the connection closes")
    func smuggling() throws {
        let h = try DownstreamHarness(routes: Self.hello)
        try h.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(out.contains("connection: close\r\n"))
        #expect(out.components(separatedBy: "HTTP/1.1 ").count == 2, "the smuggled second request must not be answered")
        #expect(!h.channel.isActive)
        #expect(h.counter("http.test.downstream_cx_protocol_error") == 1)
    }

    @Test("a closed connection frees its handler and buffers (no retain cycle through the channel context)")
    func handlerFreedAfterClose() throws {
        weak var handler: DownstreamHTTP1Handler?
        do {
            let h = try DownstreamHarness(routes: Self.hello)
            handler = try h.channel.pipeline.syncOperations.handler(type: DownstreamHTTP1Handler.self)
            try h.send("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(!h.channel.isActive)
            h.loop.run()  // the pipeline drops its handlers in a task after the close
        }
        // A Bool: Swift Testing would otherwise reflect the handler's object graph.
        let freed = handler == nil
        #expect(freed, "the handler outlived its closed connection")
    }

    @Test("HTTP/1.0 is refused with 426 unless accept_http_10 is set")
    func http10() throws {
        let refused = try DownstreamHarness(routes: Self.hello)
        try refused.send("GET / HTTP/1.0\r\n\r\n")
        #expect(try refused.received().hasPrefix("HTTP/1.1 426 Upgrade Required\r\n"))
        let accepted = try DownstreamHarness(routes: Self.hello, hcmExtra: "http_protocol_options: {accept_http_10: true}")
        try accepted.send("GET / HTTP/1.0\r\nHost: a\r\n\r\n")
        let out = try accepted.received()
        #expect(out.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(out.contains("connection: close\r\n"))
        #expect(!accepted.channel.isActive)
    }

    @Test("a request without Host gets 400 and the connection closes")
    func missingHost() throws {
        let h = try DownstreamHarness(routes: Self.hello)
        try h.send("GET / HTTP/1.1\r\n\r\n")
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!h.channel.isActive)
    }

    @Test("an idle connection closes after common_http_protocol_options.idle_timeout in virtual time")
    func idleTimeout() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "common_http_protocol_options: {idle_timeout: 2s}")
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try h.received()
        h.loop.advanceTime(by: .milliseconds(1900))
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .milliseconds(200))
        #expect(!h.channel.isActive)
        #expect(h.counter("http.test.downstream_cx_idle_timeout") == 1)
    }

    @Test("a redirect keeps the query and answers with the configured code and no body")
    func redirect() throws {
        let h = try DownstreamHarness(routes: "- match: {prefix: \"/old\"}\n  redirect: {prefix_rewrite: \"/new\", response_code: PERMANENT_REDIRECT}")
        try h.send("GET /old/page?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 308 Permanent Redirect\r\nlocation: http://example.com/new/page?q=1\r\n"))
        #expect(out.contains("content-length: 0\r\n"))
    }

    @Test("header bytes over max_request_headers_kb get 431 even when they arrive in small pieces")
    func headersTooLarge() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "max_request_headers_kb: 1")
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n")
        for _ in 0..<20 { try h.send("x-filler: \(String(repeating: "a", count: 60))\r\n") }
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 431 Request Header Fields Too Large\r\n"))
        #expect(!h.channel.isActive)
    }
}
