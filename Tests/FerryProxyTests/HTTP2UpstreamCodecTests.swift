import NIOCore
import NIOHPACK
import Testing

@testable import FerryProxy

/// The pure parts of the HTTP/2 upstream codec and the gRPC health check: header mapping both
/// ways and the grpc.health.v1 messages.
@Suite("HTTP/2 upstream codec")
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
