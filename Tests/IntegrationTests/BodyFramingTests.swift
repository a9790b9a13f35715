import FerryTestKit
import Testing

/// Bodies through the proxy: chunked requests, upstream responses re-framed for the client,
/// and 50 MB each way with exact byte counts.
@Suite("Body framing and large transfers")
struct BodyFramingTests {
    @Test("a chunked request body reaches the upstream intact and still chunked")
    func chunkedRequestBody() async throws {
        try await MirrorServer.with { mirror in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "mirror"), clusters: [("mirror", [mirror.port])])
            }) { proxy, _ in
                try await RawConnection.with(port: proxy.port) { connection in
                    let head = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                    try await connection.send(head + "5\r\nhello\r\n")
                    // The second chunk in a later write: the proxy must stream, not wait for a length.
                    try await connection.send("7\r\n, world\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n")
                    let response = try #require(await connection.responses(1).first)
                    #expect(response.status == 200)
                    #expect(response.bodyText == "hello, world0123456789abcdef")
                    #expect(response.header("x-mirror-transfer-encoding") == "chunked")
                    #expect(response.header("x-mirror-content-length") == "-")
                }
            }
        }
    }

    @Test("a content-length request body is forwarded with its length")
    func lengthRequestBody() async throws {
        try await MirrorServer.with { mirror in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "mirror"), clusters: [("mirror", [mirror.port])])
            }) { proxy, _ in
                let result = try await Curl.perform(["--data-binary", "exact bytes\r\n\u{1}", proxy.url("/")])
                #expect(result.status == 200)
                #expect(result.body == "exact bytes\r\n\u{1}")
                #expect(result.header("x-mirror-content-length") == "14")
                #expect(result.header("x-mirror-transfer-encoding") == "-")
            }
        }
    }

    @Test("a chunked upstream response reaches an HTTP/1.1 client chunked, with the same bytes")
    func chunkedResponse() async throws {
        try await Support.withEchoBackend { proxy in
            try await RawConnection.with(port: proxy.port) { connection in
                try await connection.send("GET /stream/100 HTTP/1.1\r\nHost: a\r\n\r\n")
                let response = try #require(await connection.responses(1).first)
                #expect(response.framing == .chunked)
                #expect(response.header("content-length") == nil)
                let lines = response.bodyText.split(separator: "\n")
                #expect(lines.count == 100)
                #expect(lines.last == "{\"id\":99,\"name\":\"backend\",\"path\":\"/stream/100\"}")
            }
        }
    }

    @Test("a close-delimited upstream response is re-framed as chunked and the client connection stays open")
    func closeDelimitedResponse() async throws {
        try await ScriptedUpstream.with({ _ in
            .bytes("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nread until the upstream closes", close: true)
        }) { upstream in
            try await ProxyHarness.with(yaml: { _ in
                TestConfig.bootstrap(
                    routes: Support.forward("{prefix: \"/\"}", to: "raw"), clusters: [("raw", [upstream.port])])
            }) { proxy, _ in
                try await RawConnection.with(port: proxy.port) { connection in
                    try await connection.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
                    let first = try #require(await connection.responses(1).first)
                    #expect(first.status == 200)
                    #expect(first.framing == .chunked)
                    #expect(first.bodyText == "read until the upstream closes")
                    try await connection.send("GET /two HTTP/1.1\r\nHost: a\r\n\r\n")
                    let both = await connection.responses(2)
                    #expect(both.count == 2)
                    #expect(!connection.isClosed)
                }
                #expect(upstream.requestHeads.count == 2)
            }
        }
    }

    @Test("a 50 MB download arrives complete: exactly 52428800 bytes")
    func largeDownload() async throws {
        try await Support.withEchoBackend { proxy in
            let result = try await Curl.perform(
                ["-o", "/dev/null", "-w", "%{http_code} %{size_download}", proxy.url("/bytes/52428800")],
                timeout: 120)
            #expect(result.exitCode == 0)
            #expect(result.body == "200 52428800")
        }
    }

    @Test("a 50 MB upload arrives complete: the upstream counts exactly 52428800 bytes")
    func largeUpload() async throws {
        try await Support.withEchoBackend { proxy in
            try await TempFile.with(bytes: 52_428_800) { path in
                let result = try await Curl.perform(
                    ["-H", "Expect:", "--data-binary", "@\(path)", proxy.url("/upload")], timeout: 120)
                #expect(result.status == 200)
                let echo = try EchoReply(result.body)
                #expect(echo.bodyBytes == 52_428_800)
                #expect(echo.values("content-length") == ["52428800"])
            }
        }
    }
}
