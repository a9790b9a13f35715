import NIOCore
import Testing

@testable import FerryProxy

@Suite("HTTP/1 serializer")
struct HTTP1SerializerTests {
    func written(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(buffer: buffer)
    }

    @Test("a request head is written byte for byte: request line, host from authority, fields in order")
    func requestHead() {
        var headers = HeaderMap()
        headers.add("X-Trace", "a b")
        headers.add("accept", "*/*")
        headers.add("x-trace", "c")
        let head = RequestHead(method: "POST", path: "/p?q=1", authority: "svc.local:8080", headers: headers)
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeRequestHead(head, into: &buffer) }
                == "POST /p?q=1 HTTP/1.1\r\nhost: svc.local:8080\r\nx-trace: a b\r\naccept: */*\r\nx-trace: c\r\n\r\n")
    }

    @Test("a request without authority has no host line; an empty path is written as /; the version is always 1.1")
    func requestHeadDefaults() {
        let head = RequestHead(method: "GET", path: "", authority: nil, version: .http10)
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeRequestHead(head, into: &buffer) }
                == "GET / HTTP/1.1\r\n\r\n")
    }

    @Test("a response head uses the given reason, or the standard phrase, and the client's version")
    func responseHead() {
        let custom = ResponseHead(status: 503, reason: "Busy Now", headers: ["Retry-After": "1"])
        #expect(
            written { (buffer: inout ByteBuffer) in
                HTTP1Serializer.writeResponseHead(custom, version: .http11, into: &buffer)
            }
                == "HTTP/1.1 503 Busy Now\r\nretry-after: 1\r\n\r\n")
        let standard = ResponseHead(status: 200, headers: ["content-length": "0"])
        #expect(
            written { (buffer: inout ByteBuffer) in
                HTTP1Serializer.writeResponseHead(standard, version: .http10, into: &buffer)
            }
                == "HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n")
        #expect(
            written { (buffer: inout ByteBuffer) in
                HTTP1Serializer.writeResponseHead(ResponseHead(status: 299), version: .http11, into: &buffer)
            }
                == "HTTP/1.1 299 Unknown\r\n\r\n")
        #expect(
            written { (buffer: inout ByteBuffer) in
                HTTP1Serializer.writeResponseHead(ResponseHead(status: 101), version: .http11, into: &buffer)
            }
                == "HTTP/1.1 101 Switching Protocols\r\n\r\n")
    }

    @Test("framing fields follow the head's own; multi-byte and long values are copied whole after what the buffer held")
    func framingAndRawCopies() {
        var headers = HeaderMap()
        headers.add("x-long", String(repeating: "0123456789", count: 30))
        headers.add("x-utf8", "caf\u{e9} \u{2603}")
        let head = ResponseHead(status: 200, headers: headers)
        let out = written { (buffer: inout ByteBuffer) in
            buffer.writeString("before|")
            HTTP1Serializer.writeResponseHead(head, version: .http11, chunked: true, connection: "close", into: &buffer)
            buffer.writeString("|after")
        }
        #expect(out == "before|HTTP/1.1 200 OK\r\nx-long: \(String(repeating: "0123456789", count: 30))\r\n"
            + "x-utf8: caf\u{e9} \u{2603}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n|after")
    }

    @Test(
        "chunk sizes are lower-case hex without leading zeros",
        arguments: [
            (1, "1\r\n"), (10, "a\r\n"), (255, "ff\r\n"), (4096, "1000\r\n"), (0x1_0000_0000, "100000000\r\n"),
        ])
    func chunkHeader(length: Int, expected: String) {
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeChunkHeader(length, into: &buffer) }
                == expected)
    }

    @Test("the last chunk ends with CRLF, after trailer fields when there are any")
    func lastChunk() {
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeLastChunk(trailers: nil, into: &buffer) }
                == "0\r\n\r\n")
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeLastChunk(trailers: HeaderMap(), into: &buffer)
            } == "0\r\n\r\n")
        let trailers: HeaderMap = ["Grpc-Status": "0", "grpc-message": "ok"]
        #expect(
            written { (buffer: inout ByteBuffer) in HTTP1Serializer.writeLastChunk(trailers: trailers, into: &buffer) }
                == "0\r\ngrpc-status: 0\r\ngrpc-message: ok\r\n\r\n")
    }

    @Test("a serialized chunked request parses back into the same head, body and trailers")
    func roundTrip() {
        var headers = HeaderMap()
        headers.add("transfer-encoding", "chunked")
        headers.add("x-a", "1")
        let head = RequestHead(method: "PUT", path: "/r", authority: "h", headers: headers)
        var buffer = ByteBuffer()
        HTTP1Serializer.writeRequestHead(head, into: &buffer)
        for part in ["hello ", "chunked ", "world"] {
            HTTP1Serializer.writeChunkHeader(part.utf8.count, into: &buffer)
            buffer.writeString(part + "\r\n")
        }
        HTTP1Serializer.writeLastChunk(trailers: ["x-sum": "42"], into: &buffer)
        let outcome = ParserDriver().run(buffer.readBytes(length: buffer.readableBytes)!)
        #expect(outcome.error == nil)
        #expect(
            outcome.coalesced.events == [
                .request(
                    .init(
                        method: "PUT", path: "/r", authority: "h", headers: ["transfer-encoding: chunked", "x-a: 1"])),
                .text("hello chunked world"), .end(trailers: ["x-sum: 42"]),
            ])
    }
}
