import NIOCore
import Testing

@testable import FerryProxy

/// The connection's own timers in virtual time (no upstream): request_headers_timeout and the
/// downstream idle timeout (common_http_protocol_options.idle_timeout).
///
/// Checked against the real Envoy 1.40: a request head left unfinished past
/// request_headers_timeout got 408 "request header timeout" with connection: close (details
/// request_header_timeout); a connection that sent no byte was closed by the idle timeout, not
/// by request_headers_timeout.
@Suite("Connection timers in virtual time")
struct ConnectionTimerTests {
    static let hello = "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: hi}}"

    @Test("request_headers_timeout: an unfinished head gets 408 'request header timeout' and the connection closes")
    func requestHeadersTimeout() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "request_headers_timeout: 1s")
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n")
        h.loop.advanceTime(by: .milliseconds(900))
        #expect(try h.received() == "")
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .milliseconds(200))
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"), "\(out)")
        #expect(out.contains("connection: close\r\n"))
        #expect(out.hasSuffix("\r\n\r\nrequest header timeout"))
        #expect(!h.channel.isActive)
        #expect(h.counter("http.test.downstream_rq_header_timeout") == 1)
    }

    @Test("request_headers_timeout counts from the head's first byte, not from the connection's start")
    func requestHeadersTimeoutStartsWithFirstByte() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "request_headers_timeout: 1s")
        h.loop.advanceTime(by: .seconds(5))
        #expect(h.channel.isActive)
        try h.send("GET / HTTP/1.1\r\n")
        h.loop.advanceTime(by: .milliseconds(800))
        try h.send("Host: a\r\n\r\n")
        #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        h.loop.advanceTime(by: .seconds(2))
        #expect(h.channel.isActive)
        #expect(h.counter("http.test.downstream_rq_header_timeout") == 0)
    }

    @Test("the idle timer restarts after each request on a keep-alive connection")
    func idleTimerRestarts() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "common_http_protocol_options: {idle_timeout: 2s}")
        for _ in 0..<3 {
            h.loop.advanceTime(by: .milliseconds(1500))
            try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(h.channel.isActive)
        }
        h.loop.advanceTime(by: .milliseconds(1900))
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .milliseconds(200))
        #expect(!h.channel.isActive)
        #expect(h.counter("http.test.downstream_cx_idle_timeout") == 1)
    }

    @Test("a connection that never sends a byte is closed by the idle timeout")
    func idleWithoutRequest() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "common_http_protocol_options: {idle_timeout: 1s}")
        h.loop.advanceTime(by: .milliseconds(900))
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .milliseconds(200))
        #expect(!h.channel.isActive)
        #expect(try h.received() == "", "an idle close sends no response")
        #expect(h.counter("http.test.downstream_cx_idle_timeout") == 1)
    }

    @Test("with idle_timeout 0s the idle timer is off")
    func idleTimeoutZero() throws {
        let h = try DownstreamHarness(routes: Self.hello, hcmExtra: "common_http_protocol_options: {idle_timeout: 0s}")
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try h.received()
        h.loop.advanceTime(by: .seconds(7200))
        #expect(h.channel.isActive)
    }

    @Test("the default idle timeout is one hour")
    func idleTimeoutDefault() throws {
        let h = try DownstreamHarness(routes: Self.hello)
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        _ = try h.received()
        h.loop.advanceTime(by: .seconds(3590))
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .seconds(20))
        #expect(!h.channel.isActive)
    }
}
