import NIOCore
import NIOHPACK
import Testing

@testable import FerryProxy

/// The pure parts of the HTTP/2 codecs and the gRPC health check: header mapping both ways
/// (and the checks on a client's request blocks) and the grpc.health.v1 messages.
@Suite("HTTP/2 header mapping")
struct HTTP2UpstreamCodecTests {
    @Test("a request head maps to pseudo-headers; connection-specific fields and TE other than trailers are dropped")
    func requestMapping() {
        let head = RequestHead(method: "POST", path: "/p?q", authority: "svc:8080", headers: [
            "connection": "keep-alive", "keep-alive": "5", "transfer-encoding": "chunked", "upgrade": "h2c",
            "proxy-connection": "x", "te": "trailers", "x-a": "1", "content-length": "3",
        ])
        let block = HTTP2HeaderMapping.requestHeaders(head, scheme: "https")
        #expect(block.map { "\($0.name)=\($0.value)" } == [":method=POST", ":scheme=https", ":authority=svc:8080", ":path=/p?q",
                                                           "te=trailers", "x-a=1", "content-length=3"])
        let gzip = HTTP2HeaderMapping.requestHeaders(RequestHead(method: "GET", path: "", authority: nil, headers: ["te": "gzip"]),
                                                     scheme: "http")
        #expect(gzip.map(\.name) == [":method", ":scheme", ":path"] && gzip.first(name: ":path") == "/")
    }

    @Test("blocks Ferry encodes keep credentials and one-off values out of the peer's HPACK table, as nghttp2 does")
    func hpackIndexing() {
        func indexing(_ block: HPACKHeaders) -> [String: HPACKIndexing] {
            Dictionary(block.map { ($0.name, $0.indexable) }, uniquingKeysWith: { first, _ in first })
        }
        let request = indexing(HTTP2HeaderMapping.requestHeaders(RequestHead(method: "GET", path: "/p", authority: "a", headers: [
            "authorization": "Bearer t", "proxy-authorization": "Basic x", "cookie": "id=1", "if-modified-since": "x",
            "x-a": "1", "x-big": String(repeating: "b", count: 3_100),
        ]), scheme: "http"))
        #expect(request == [":method": .indexable, ":scheme": .indexable, ":authority": .indexable, ":path": .nonIndexable,
                            "authorization": .neverIndexed, "proxy-authorization": .neverIndexed, "cookie": .neverIndexed,
                            "if-modified-since": .nonIndexable, "x-a": .indexable, "x-big": .nonIndexable])
        let longCookie = HTTP2HeaderMapping.requestHeaders(
            RequestHead(method: "GET", path: "/", authority: nil, headers: ["cookie": "session=0123456789abc"]), scheme: "http")
        #expect(indexing(longCookie)["cookie"] == .indexable)
        let response = indexing(HTTP2HeaderMapping.responseBlock(ResponseHead(status: 200, headers: [
            "Set-Cookie": "s=1", "age": "3", "etag": "\"e\"", "location": "/x", "content-length": "5", "content-type": "text/plain",
        ])))
        #expect(response == [":status": .indexable, "set-cookie": .nonIndexable, "age": .nonIndexable, "etag": .nonIndexable,
                             "location": .nonIndexable, "content-length": .nonIndexable, "content-type": .indexable])
    }

    @Test("fields the previous hop sent never-indexed are re-encoded never-indexed, both ways (RFC 7541 §7.1.3)")
    func neverIndexedKept() throws {
        var client = HPACKHeaders([(":method", "GET"), (":scheme", "http"), (":path", "/")])
        client.add(name: ":authority", value: "a", indexing: .neverIndexed)
        client.add(name: "x-plain", value: "1")
        client.add(name: "x-key", value: "k", indexing: .neverIndexed)
        let request = try HTTP2HeaderMapping.request(client, extendedConnect: false).head
        let upstream = HTTP2HeaderMapping.requestHeaders(request, scheme: "http")
        #expect(upstream.filter { $0.indexable == .neverIndexed }.map(\.name).sorted() == [":authority", "x-key"])
        var answer = HPACKHeaders([(":status", "200"), ("x-plain", "1")])
        answer.add(name: "x-token", value: "t", indexing: .neverIndexed)
        let response = try HTTP2HeaderMapping.responseHead(answer)
        let downstream = HTTP2HeaderMapping.responseBlock(response)
        #expect(downstream.filter { $0.indexable == .neverIndexed }.map(\.name) == ["x-token"])
        #expect(HTTP2HeaderMapping.responseBlock(ResponseHead(status: 200, headers: ["x-token": "t"])).allSatisfy { $0.indexable == .indexable })
    }

    @Test("a response block maps to a ResponseHead; trailers drop pseudo-headers; a bad :status is refused")
    func responseMapping() throws {
        let head = try HTTP2HeaderMapping.responseHead(HPACKHeaders([(":status", "204"), ("x-b", "2")]))
        #expect(head.status == 204 && head.headers.first("x-b") == "2" && head.headers.count == 1)
        #expect(HTTP2HeaderMapping.trailers(HPACKHeaders([("grpc-status", "0"), (":x", "y")])).first("grpc-status") == "0")
        #expect(throws: HTTP2HeaderMapping.ResponseError.missingStatus) { try HTTP2HeaderMapping.responseHead(HPACKHeaders([("a", "b")])) }
        #expect(throws: HTTP2HeaderMapping.ResponseError.invalidStatus("2000")) {
            try HTTP2HeaderMapping.responseHead(HPACKHeaders([(":status", "2000")]))
        }
    }

    @Test("a client's HEADERS block becomes a request head: cookies joined, host as authority, header list size counted")
    func downstreamRequest() throws {
        let block = HPACKHeaders([(":method", "POST"), (":scheme", "https"), (":path", "/p?q"), ("host", "h:1"),
                                  ("cookie", "a=1"), ("te", "trailers"), ("cookie", "b=2"), ("x-a", "caf\u{e9}")])
        let request = try HTTP2HeaderMapping.request(block, extendedConnect: false)
        #expect(request.head.method == "POST" && request.head.path == "/p?q" && request.head.authority == "h:1")
        #expect(request.head.headers.map { "\($0.name)=\($0.value)" } == ["te=trailers", "x-a=caf\u{e9}", "cookie=a=1; b=2"])
        #expect(request.headerBytes == block.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 32 })
        #expect(request.extendedConnectProtocol == nil)
        let connect = HPACKHeaders([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/ws"),
                                    (":authority", "a")])
        #expect(try HTTP2HeaderMapping.request(connect, extendedConnect: true).extendedConnectProtocol == "websocket")
        #expect(throws: HTTP2HeaderMapping.MalformedBlock.unknownPseudo(":protocol")) {
            try HTTP2HeaderMapping.request(connect, extendedConnect: false)
        }
    }

    @Test("malformed request blocks name what is wrong with them (RFC 9113 §8.2, §8.3)")
    func malformedRequests() throws {
        let base: [(String, String)] = [(":method", "GET"), (":scheme", "http"), (":path", "/")]
        let cases: [([(String, String)], HTTP2HeaderMapping.MalformedBlock)] = [
            (base + [("X-A", "1")], .invalidName("X-A")),
            (base + [("", "1")], .invalidName("")),
            (base + [("keep-alive", "1")], .connectionSpecific("keep-alive")),
            (base + [("te", "gzip")], .teOtherThanTrailers),
            (base + [("x-a", "a\rb")], .invalidValue("x-a")),
            ([(":method", "GET"), ("x-a", "1"), (":path", "/")], .pseudoAfterRegular(":path")),
            (base + [(":path", "/b")], .duplicatePseudo(":path")),
            ([(":status", "200")] + base, .unknownPseudo(":status")),
            ([(":method", "GET"), (":path", "/a\u{7f}")], .invalidValue(":path")),
            (Array(base.prefix(2)), .pseudoSet),
            ([(":method", "GET"), (":scheme", "http"), (":path", "")], .emptyPath),
            ([(":method", "CONNECT"), (":authority", "a:1"), (":scheme", "http")], .pseudoSet),
            (base + [("content-length", "")], .invalidContentLength),
            (base + [("content-length", "+1")], .invalidContentLength),
            (base + [("content-length", "1,1")], .invalidContentLength),
            (base + [("content-length", "1"), ("content-length", "2")], .invalidContentLength),
            (base + [("content-length", "1234567890123456789")], .invalidContentLength),
        ]
        for (fields, error) in cases {
            #expect(throws: error) { try HTTP2HeaderMapping.request(HPACKHeaders(fields), extendedConnect: false) }
        }
        let folded = try? HTTP2HeaderMapping.request(HPACKHeaders(base + [("content-length", "12"), ("content-length", "12")]),
                                                     extendedConnect: false)
        #expect(folded?.contentLength == 12 && folded?.head.headers.values("content-length") == ["12"])
        #expect(try HTTP2HeaderMapping.request(HPACKHeaders(base), extendedConnect: false).contentLength == nil)
        #expect(throws: HTTP2HeaderMapping.MalformedBlock.pseudoInTrailers(":path")) {
            try HTTP2HeaderMapping.requestTrailers(HPACKHeaders([("x-a", "1"), (":path", "/")]))
        }
        #expect(throws: HTTP2HeaderMapping.MalformedBlock.connectionSpecific("transfer-encoding")) {
            try HTTP2HeaderMapping.requestTrailers(HPACKHeaders([("transfer-encoding", "chunked")]))
        }
    }

    @Test("Health/Check request and response messages are encoded and decoded as protobuf in gRPC framing")
    func grpcHealthMessages() {
        let request = GRPCHealthMessage.request(service: "svc")
        #expect(Array(request.readableBytesView) == [0, 0, 0, 0, 5, 0x0A, 3, 0x73, 0x76, 0x63])
        #expect(Array(GRPCHealthMessage.request(service: "").readableBytesView) == [0, 0, 0, 0, 0])
        func response(_ bytes: [UInt8]) -> ByteBuffer {
            var b = ByteBuffer()
            b.writeInteger(UInt8(0))
            b.writeInteger(UInt32(bytes.count))
            b.writeBytes(bytes)
            return b
        }
        #expect(GRPCHealthMessage.servingStatus(response([0x08, 0x01])) == 1)
        #expect(GRPCHealthMessage.servingStatus(response([0x08, 0x02])) == 2)
        #expect(GRPCHealthMessage.servingStatus(response([])) == 0)
        // An unknown length-delimited field is skipped.
        #expect(GRPCHealthMessage.servingStatus(response([0x12, 0x01, 0x41, 0x08, 0x01])) == 1)
        #expect(GRPCHealthMessage.servingStatus(response([0x08])) == nil)
        var compressed = response([0x08, 0x01])
        compressed.setInteger(UInt8(1), at: compressed.readerIndex)
        #expect(GRPCHealthMessage.servingStatus(compressed) == nil)
    }
}
