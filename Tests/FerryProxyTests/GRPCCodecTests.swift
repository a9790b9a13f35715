import NIOCore
import Testing

@testable import FerryProxy

/// The pure gRPC pieces: `grpc-timeout` parsing as Envoy's `getGrpcTimeout` (checked against
/// Envoy 1.40: `0m` and `0S` expire at once, `abc`, `300` and `100000000m` are ignored), the
/// frame counter over chunks split anywhere, gRPC-Web trailer frames and streaming base64.
@Suite("gRPC codec pieces")
struct GRPCCodecTests {
    @Test("grpc-timeout units H M S m u n; micro- and nanoseconds round up to milliseconds")
    func timeoutUnits() {
        #expect(GRPCTimeout.parse("2H") == .hours(2))
        #expect(GRPCTimeout.parse("3M") == .minutes(3))
        #expect(GRPCTimeout.parse("10S") == .seconds(10))
        #expect(GRPCTimeout.parse("250m") == .milliseconds(250))
        #expect(GRPCTimeout.parse("1500u") == .milliseconds(2))
        #expect(GRPCTimeout.parse("1000u") == .milliseconds(1))
        #expect(GRPCTimeout.parse("1n") == .milliseconds(1))
        #expect(GRPCTimeout.parse("0n") == .zero)
        #expect(GRPCTimeout.parse("99999999S") == .seconds(99_999_999))
        #expect(GRPCTimeout.parse("+300m") == .milliseconds(300))
        #expect(GRPCTimeout.parse(" 300m") == .milliseconds(300))
    }

    @Test("malformed grpc-timeout values are ignored")
    func timeoutMalformed() {
        for text in ["", "S", "300", "abc", "100000000m", "-5S", "1.5S", "10s", "10 S x", "1e3m", "99999999999999999999S"] {
            #expect(GRPCTimeout.parse(text) == nil, "\(text)")
        }
    }

    static func frames(_ payloads: [Int]) -> [UInt8] {
        payloads.flatMap { n -> [UInt8] in
            [0, UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + Array(repeating: 7, count: n)
        }
    }

    @Test("the frame counter counts each frame once, wherever the chunks split it")
    func frameCounterSplits() {
        let bytes = Self.frames([3, 0, 300, 1, 70000])
        for size in [1, 2, 4, 5, 6, 7, 64, 1000, bytes.count] {
            var counter = GRPCFrameCounter()
            var total: UInt64 = 0
            for start in stride(from: 0, to: bytes.count, by: size) {
                total += counter.scan(ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)]))
            }
            #expect(total == 5, "chunk size \(size)")
            #expect(counter.frames == 5)
        }
    }

    @Test("a frame counts as soon as its first byte arrives, as Envoy's FrameInspector")
    func frameCountsAtStart() {
        var counter = GRPCFrameCounter()
        #expect(counter.scan(ByteBuffer(bytes: [0])) == 1)
        #expect(counter.scan(ByteBuffer(bytes: [0, 0, 0, 2, 9])) == 0)
        #expect(counter.scan(ByteBuffer(bytes: [9, 0])) == 1)
    }

    @Test("service and method come from /<service>/<method> only")
    func serviceAndMethod() {
        #expect(GRPCProtocol.serviceAndMethod(path: "/pkg.Svc/Do").map { "\($0.service)|\($0.method)" } == "pkg.Svc|Do")
        #expect(GRPCProtocol.serviceAndMethod(path: "//a//b/?x=1").map { "\($0.service)|\($0.method)" } == "a|b")
        #expect(GRPCProtocol.serviceAndMethod(path: "/a") == nil)
        #expect(GRPCProtocol.serviceAndMethod(path: "/a/b/c") == nil)
    }

    @Test("gRPC content types: application/grpc with +suffix or ;params, not grpc-web")
    func contentTypes() {
        for type in ["application/grpc", "application/grpc+proto", "application/grpc;charset=x"] {
            #expect(GRPCProtocol.isGRPC(contentType: type))
        }
        for type in ["application/grpc-web", "application/grpcx", "text/plain"] { #expect(!GRPCProtocol.isGRPC(contentType: type)) }
        #expect(!GRPCProtocol.isGRPC(contentType: nil))
    }

    @Test("a gRPC-Web trailer frame: flag 0x80, length, then name:value lines")
    func trailerFrame() {
        var trailers = HeaderMap()
        trailers.addLowercased("grpc-status", "0")
        trailers.addLowercased("grpc-message", "ok")
        let frame = GRPCProtocol.trailerFrame(trailers)
        let text = "grpc-status:0\r\ngrpc-message:ok\r\n"
        #expect(Array(frame.readableBytesView) == [0x80, 0, 0, 0, UInt8(text.utf8.count)] + Array(text.utf8))
    }

    static func encoded(_ bytes: [UInt8]) -> String {
        var out = ByteBuffer()
        Base64.encode(ByteBuffer(bytes: bytes), into: &out)
        return String(buffer: out)
    }

    @Test("base64 encodes RFC 4648 test vectors")
    func base64Vectors() {
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, code) in vectors { #expect(Self.encoded(Array(plain.utf8)) == code) }
        #expect(Self.encoded([0xFB, 0xFF]) == "+/8=")
    }

    @Test("the streaming base64 decoder joins groups split across chunks, and padded pieces back to back")
    func base64Stream() throws {
        let plain = (0..<200).map { UInt8($0 * 7 & 0xFF) }
        let text = Array(Self.encoded(plain).utf8)
        for size in [1, 2, 3, 5, 7, 64] {
            var decoder = Base64StreamDecoder()
            var out: [UInt8] = []
            for start in stride(from: 0, to: text.count, by: size) {
                let end = min(start + size, text.count)
                let piece = try decoder.decode(ByteBuffer(bytes: text[start..<end]), end: end == text.count).get()
                out += piece.readableBytesView
            }
            #expect(out == plain, "chunk size \(size)")
        }
        var decoder = Base64StreamDecoder()
        let joined = try decoder.decode(ByteBuffer(string: "Zg==Zm8=Zm9v"), end: true).get()
        #expect(String(buffer: joined) == "ffofoo")
    }

    @Test("gRPC-Web text: each frame is base64 on its own, whatever the chunks, with at most two bytes held back")
    func webTextEncoder() {
        let frames = [Self.frames([3]), Self.frames([0]), Self.frames([70]), Self.frames([1])]
        let expected = frames.map { Self.encoded($0) }.joined()
        let bytes = frames.flatMap { $0 }
        for size in [1, 2, 3, 4, 5, 7, 16, bytes.count] {
            var encoder = GRPCWebTextEncoder()
            var out = ""
            for start in stride(from: 0, to: bytes.count, by: size) {
                let chunk = ByteBuffer(bytes: bytes[start..<min(start + size, bytes.count)])
                let piece = encoder.encode(chunk)
                #expect(piece.readableBytes <= (chunk.readableBytes + 2) / 3 * 4 + 4, "chunk size \(size)")
                out += String(buffer: piece)
            }
            #expect(out == expected, "chunk size \(size)")
        }
    }

    @Test("bad base64 fails: a stray character, misplaced padding, or an unfinished group at the end")
    func base64Failures() {
        var a = Base64StreamDecoder()
        #expect(throws: Base64StreamDecoder.Failure.badData) { try a.decode(ByteBuffer(string: "Zm9*"), end: false).get() }
        var b = Base64StreamDecoder()
        #expect(throws: Base64StreamDecoder.Failure.badData) { try b.decode(ByteBuffer(string: "Z=9v"), end: true).get() }
        var c = Base64StreamDecoder()
        #expect(throws: Base64StreamDecoder.Failure.badData) { try c.decode(ByteBuffer(string: "Zm=v"), end: true).get() }
        var d = Base64StreamDecoder()
        #expect((try? d.decode(ByteBuffer(string: "Zm9vY"), end: false).get())?.readableBytes == 3)
        #expect(throws: Base64StreamDecoder.Failure.badSize) { try d.decode(ByteBuffer(), end: true).get() }
    }
}
