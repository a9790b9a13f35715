import FerryTestKit
import Testing

/// RFC 9112 framing and syntax rules through the real proxy: every malformed message is
/// answered with its status, `connection: close`, and a closed connection, and neither it nor
/// the request pipelined after it reaches the upstream (a control request proves the upstream
/// would have recorded them). The codec's own unit tests are in FerryProxyTests
/// (RequestSmugglingTests, ChunkedBodyTests).
///
/// Checked against Envoy 1.40 (same bytes, same config): Envoy refuses and closes in every case
/// below except where a comment says otherwise. Envoy's details are mostly `http1.codec_error`;
/// both log the flag DPE.
@Suite("Hardening: malformed requests through the proxy")
struct HardeningTests {
    static let post = "POST /a HTTP/1.1\r\nHost: a\r\n"
    static let chunked = post + "Transfer-Encoding: chunked\r\n\r\n"

    static let framingCases: [Refused] = [
        .init(
            name: "Content-Length and Transfer-Encoding",
            message: post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        .init(
            name: "two Content-Length fields that differ",
            message: post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
        .init(name: "a Content-Length list whose values differ", message: post + "Content-Length: 5, 6\r\n\r\nhello!"),
        // Envoy 1.40 answers 501 to the next four; RFC 9112 §6.3 requires 400 and close when
        // chunked is not the final coding. Both refuse and close.
        .init(name: "Transfer-Encoding: gzip", message: post + "Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n"),
        .init(
            name: "Transfer-Encoding: chunked, gzip",
            message: post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"),
        .init(name: "Transfer-Encoding: identity", message: post + "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n"),
        .init(
            name: "chunked in two Transfer-Encoding fields",
            message: post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        // A coding before a final chunked: 501 in Envoy 1.40 and Ferry (RFC 9112 §6.1).
        .init(
            name: "Transfer-Encoding: gzip, chunked",
            message: post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            status: 501),
    ]

    static let chunkCases: [Refused] = [
        .init(name: "a chunk size that overflows 64 bits", message: chunked + "FFFFFFFFFFFFFFFFF1\r\nx\r\n0\r\n\r\n"),
        .init(name: "a negative chunk size", message: chunked + "-5\r\nhello\r\n0\r\n\r\n"),
        .init(name: "an empty chunk size", message: chunked + "\r\nhello\r\n0\r\n\r\n"),
        .init(name: "a chunk size written 0x5", message: chunked + "0x5\r\nhello\r\n0\r\n\r\n"),
        // Envoy 1.40 accepts the next two and forwards the body; Ferry validates extensions.
        .init(
            name: "a chunk extension with an unterminated quoted value",
            message: chunked + "5;a=\"b\r\nhello\r\n0\r\n\r\n"),
        .init(name: "a chunk extension without a name", message: chunked + "5;=x\r\nhello\r\n0\r\n\r\n"),
    ]

    static let fieldCases: [Refused] = [
        // Envoy 1.40 accepts obsolete line folding (RFC 9112 §5.2 allows rejecting it with 400).
        .init(name: "obsolete line folding", message: "GET /a HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n"),
        .init(name: "whitespace before the colon", message: "GET /a HTTP/1.1\r\nHost: a\r\nX-A : one\r\n\r\n"),
        .init(name: "NUL inside a header value", message: "GET /a HTTP/1.1\r\nHost: a\r\nX-A: o\u{0}ne\r\n\r\n"),
        // Envoy 1.40 accepts a lone CR inside a value and forwards it (RFC 9110 §5.5: MUST reject or replace).
        .init(name: "CR inside a header value", message: "GET /a HTTP/1.1\r\nHost: a\r\nX-A: o\rne\r\n\r\n"),
        .init(name: "LF inside a header value", message: "GET /a HTTP/1.1\r\nHost: a\r\nX-A: o\nne\r\n\r\n"),
    ]

    static let requestLineCases: [Refused] = [
        .init(name: "method G(T", message: "G(T /a HTTP/1.1\r\nHost: a\r\n\r\n"),
        .init(name: "a space inside the URI", message: "GET /a b HTTP/1.1\r\nHost: a\r\n\r\n"),
        .init(name: "a control byte inside the URI", message: "GET /a\u{1}b HTTP/1.1\r\nHost: a\r\n\r\n"),
        .init(name: "DEL inside the URI", message: "GET /a\u{7F}b HTTP/1.1\r\nHost: a\r\n\r\n"),
        .init(name: "a relative URI: GET a/b", message: "GET a/b HTTP/1.1\r\nHost: a\r\n\r\n"),
    ]

    @Test("message framing the proxy and upstream could disagree on is refused and closed", arguments: framingCases)
    func framing(_ refused: Refused) async throws {
        try await Self.expect(refused)
    }

    @Test("bad chunk sizes and extensions are refused and closed", arguments: chunkCases)
    func badChunks(_ refused: Refused) async throws {
        try await Self.expect(refused)
    }

    @Test("obs-fold, whitespace before the colon and NUL, CR or LF in a value are refused", arguments: fieldCases)
    func badFields(_ refused: Refused) async throws {
        try await Self.expect(refused)
    }

    @Test("a bad method or request target is refused and closed", arguments: requestLineCases)
    func badRequestLines(_ refused: Refused) async throws {
        try await Self.expect(refused)
    }

    @Test("the recording upstream sees a well-formed request with a body and the request pipelined after it")
    func validRequestReachesUpstream() async throws {
        // The positive control for the cases above: the same shape, well-formed, does arrive.
        try await Hardening.withRecordingUpstream { proxy, upstream, _ in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send(Self.post + "Content-Length: 5\r\n\r\nhello" + Hardening.smuggled)
                let responses = await connection.responses(2)
                #expect(responses.map(\.status) == [200, 200])
                #expect(!connection.isClosed)
            }
            #expect(Hardening.requestLines(upstream) == ["POST /a HTTP/1.1", "GET /smuggled HTTP/1.1"])
        }
    }

    static func expect(_ refused: Refused, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        try await Hardening.withRecordingUpstream { proxy, upstream, log in
            try await Hardening.expectRefused(
                refused.message, status: refused.status, proxy: proxy, upstream: upstream, log: log,
                sourceLocation: sourceLocation)
            #expect(await proxy.localStat("http.ingress_http.downstream_cx_protocol_error") == 1)
        }
    }
}
