import FerryConfig
import NIOCore
import Testing

@testable import FerryProxy

/// The filter API's transforms on an `EmbeddedChannel`: a test filter rewrites response
/// chunks, turns trailers into a last chunk, finishes a deferred head from the body, and
/// rewrites and replaces a buffered request body (what the JSON transcoder will do).
@Suite("Filter body transforms")
struct FilterTransformTests {
    /// A filter whose hooks are closures, so each test says what it does.
    final class Probe: StreamFilter, @unchecked Sendable {
        var onDecodeHeaders: (ActiveStream) -> FilterStatus = { _ in .proceed }
        var onDecodeData: (inout ByteBuffer) -> Void = { _ in }
        var onEncodeHeaders: (ActiveStream, inout ResponseHead) -> Void = { _, _ in }
        var onEncodeData: (inout ByteBuffer) -> Void = { _ in }
        var onEncodeTrailers: (ActiveStream, inout HeaderMap?) -> ByteBuffer? = { _, _ in nil }
        var decodeDataCalls = 0
        var hooks: FilterHooks = .all

        func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus { onDecodeHeaders(stream) }
        func decodeData(_ stream: ActiveStream, _ data: inout ByteBuffer, endStream: Bool) {
            decodeDataCalls += 1
            onDecodeData(&data)
        }
        func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) { onEncodeHeaders(stream, &head) }
        func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) { onEncodeData(&data) }
        func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer? { onEncodeTrailers(stream, &trailers) }
    }

    final class ProbeFactory: StreamFilterFactory, @unchecked Sendable {
        let probe: Probe
        init(probe: Probe) { self.probe = probe }
        var name: String { "test.probe" }
        var disabledByDefault: Bool { false }
        func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? { probe }
    }

    static let hello = "- match: {prefix: \"/\"}\n  direct_response: {status: 200, body: {inline_string: hello world}}"

    static func harness(_ probe: Probe) throws -> DownstreamHarness {
        try DownstreamHarness(routes: hello, filters: [ProbeFactory(probe: probe)])
    }

    static func uppercased(_ data: inout ByteBuffer) {
        data = ByteBuffer(string: String(buffer: data).uppercased())
    }

    @Test("a filter rewrites response chunks and adds a last chunk from the end; dropping content-length makes the body chunked")
    func responseTransform() throws {
        let probe = Probe()
        probe.onEncodeHeaders = { _, head in head.headers.remove("content-length") }
        probe.onEncodeData = Self.uppercased
        probe.onEncodeTrailers = { _, trailers in
            trailers = nil
            return ByteBuffer(string: "!END")
        }
        let h = try Self.harness(probe)
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try h.received()
        #expect(out.contains("transfer-encoding: chunked\r\n"), "\(out)")
        #expect(out.hasSuffix("\r\n\r\nb\r\nHELLO WORLD\r\n4\r\n!END\r\n0\r\n\r\n"), "\(out)")
    }

    @Test("a filter is offered only the hooks it declares; the others of the chain still run")
    func declaredHooksOnly() throws {
        var calls: [String] = []
        let narrow = Probe()
        narrow.hooks = [.decodeHeaders]
        narrow.onDecodeHeaders = { _ in calls.append("narrow.decode"); return .proceed }
        narrow.onEncodeHeaders = { _, _ in calls.append("narrow.encodeHeaders") }
        narrow.onEncodeData = { _ in calls.append("narrow.encodeData") }
        narrow.onEncodeTrailers = { _, _ in calls.append("narrow.encodeTrailers"); return nil }
        let wide = Probe()
        wide.onEncodeHeaders = { _, _ in calls.append("wide.encodeHeaders") }
        wide.onEncodeData = Self.uppercased
        let h = try DownstreamHarness(routes: Self.hello, filters: [ProbeFactory(probe: narrow), ProbeFactory(probe: wide)])
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try h.received()
        #expect(out.hasSuffix("\r\n\r\nHELLO WORLD"), "\(out)")
        #expect(calls == ["narrow.decode", "wide.encodeHeaders"])
    }

    @Test("a deferred head leaves only at the end, with what the filter learnt from the body")
    func deferredHead() throws {
        let probe = Probe()
        var seen = 0
        probe.onEncodeHeaders = { stream, _ in stream.deferResponseHead() }
        probe.onEncodeData = { data in
            seen += data.readableBytes
            data.clear()
        }
        probe.onEncodeTrailers = { stream, _ in
            stream.responseHead?.headers.set("x-body-bytes", String(seen))
            stream.responseHead?.headers.set("content-length", "0")
            return nil
        }
        let h = try Self.harness(probe)
        try h.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(out.contains("x-body-bytes: 11\r\n"), "\(out)")
        #expect(out.contains("content-length: 0\r\n"), "\(out)")
        #expect(out.hasSuffix("\r\n\r\n"), "the body was swallowed: \(out)")
    }

    @Test("request chunks reach only a registered filter; a buffered body is rewritten, then replaced with its new length")
    func requestTransformAndReplace() throws {
        for (framing, body) in [("content-length: 5", "abcde"), ("transfer-encoding: chunked", "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")] {
            let probe = Probe()
            var buffered = ""
            var replaced: (length: String?, te: String?, chunks: [String])?
            probe.onDecodeData = Self.uppercased
            probe.onDecodeHeaders = { stream in
                stream.transformRequestBody(by: probe)
                stream.bufferRequestBody(limit: 1024) {
                    buffered = (stream.requestBodyBuffer?.chunks ?? []).map { String(buffer: $0) }.joined()
                    stream.replaceRequestBody(ByteBuffer(string: "xyz"))
                    replaced = (stream.request.headers.first("content-length"), stream.request.headers.first("transfer-encoding"),
                                (stream.requestBodyBuffer?.chunks ?? []).map { String(buffer: $0) })
                    stream.continueDecoding()
                }
                return .stop
            }
            let h = try Self.harness(probe)
            try h.send("POST / HTTP/1.1\r\nHost: a\r\n\(framing)\r\n\r\n\(body)")
            h.loop.run()
            #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(buffered == "ABCDE", "\(framing)")
            #expect(replaced?.length == "3" && replaced?.te == nil && replaced?.chunks == ["xyz"], "\(framing)")
            #expect(probe.decodeDataCalls > 0)
        }
    }

    @Test("a filter that registers after another buffered the body rewrites the chunks already held")
    func lateRegistration() throws {
        let buffering = Probe()
        let transforming = Probe()
        var seen = ""
        buffering.onDecodeHeaders = { stream in
            stream.bufferRequestBody(limit: 1024) { stream.continueDecoding() }
            return .stop
        }
        transforming.onDecodeData = Self.uppercased
        transforming.onDecodeHeaders = { stream in
            stream.transformRequestBody(by: transforming)
            seen = (stream.requestBodyBuffer?.chunks ?? []).map { String(buffer: $0) }.joined()
            return .proceed
        }
        let h = try DownstreamHarness(routes: Self.hello, filters: [ProbeFactory(probe: buffering), ProbeFactory(probe: transforming)])
        try h.send("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nabcde")
        h.loop.run()
        #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(seen == "ABCDE")
        #expect(transforming.decodeDataCalls == 1)
    }

    @Test("without transformRequestBody a filter never sees request chunks; requestBodyLengthChanges frames the upstream request as chunked")
    func requestUntouched() throws {
        let probe = Probe()
        var headers: (String?, String?)?
        probe.onDecodeHeaders = { stream in
            stream.requestBodyLengthChanges()
            headers = (stream.request.headers.first("content-length"), stream.request.headers.first("transfer-encoding"))
            return .proceed
        }
        let h = try Self.harness(probe)
        try h.send("POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nabcde")
        h.loop.run()
        #expect(try h.received().hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(probe.decodeDataCalls == 0)
        #expect(headers?.0 == nil && headers?.1 == "chunked")
    }
}
