import Foundation
import NIOCore
import NIOPosix

/// A gRPC server stand-in that speaks HTTP/1.1: it reads each request (content-length or
/// chunked body), records it, and answers with what the test's script returns — gRPC frames
/// as chunks and `grpc-status` in chunked trailers, a trailers-only head, or raw bytes. The
/// answer is a `GRPCReply` value, independent of the transport, so an HTTP/2 variant can
/// reuse scripts and assertions.
public final class GRPCUpstream: Sendable {
    public let channel: Channel
    let log: CallLog

    public var port: Int { channel.localAddress?.port ?? 0 }
    /// Calls received so far, in order.
    public var calls: [GRPCCall] { log.calls }

    final class CallLog: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: [GRPCCall] = []
        func append(_ call: GRPCCall) { lock.withLock { stored.append(call) } }
        var calls: [GRPCCall] { lock.withLock { stored } }
    }

    init(channel: Channel, log: CallLog) {
        self.channel = channel
        self.log = log
    }

    public static func start(_ script: @escaping @Sendable (GRPCCall) -> GRPCReply) async throws -> GRPCUpstream {
        let log = CallLog()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(GRPCUpstreamHandler(script: script, log: log))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return GRPCUpstream(channel: channel, log: log)
    }

    public func stop() async {
        try? await channel.close().get()
    }

    /// Starts an upstream with `script`, runs `body`, and stops it whatever happens.
    public static func with<T>(_ script: @escaping @Sendable (GRPCCall) -> GRPCReply,
                               _ body: (GRPCUpstream) async throws -> T) async throws -> T {
        let upstream = try await start(script)
        return try await withCleanup { try await body(upstream) } cleanup: { await upstream.stop() }
    }
}

/// One request as the upstream received it.
public struct GRPCCall: Sendable {
    public var method: String
    public var path: String
    /// Header fields with lowercased names, in order.
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
    /// The body's gRPC frames.
    public var frames: [GRPCFrame] { GRPCFrame.parse(body) }
}

/// What the upstream answers.
public enum GRPCReply: Sendable {
    /// A 200 `application/grpc` response: `messages` as frames (`split` bytes per chunk, 0:
    /// one chunk per frame), then `grpc-status` / `grpc-message` (and `trailers`) as trailers.
    case messages([[UInt8]], status: Int = 0, message: String? = nil, trailers: [(String, String)] = [], split: Int = 0,
                  delay: Double = 0)
    /// A trailers-only answer: `grpc-status` in the head, no body.
    case trailersOnly(status: Int, message: String? = nil, delay: Double = 0)
    /// Anything else, written as is.
    case raw(String, delay: Double = 0)

    var delay: Double {
        switch self {
        case .messages(_, _, _, _, _, let delay), .trailersOnly(_, _, let delay), .raw(_, let delay): delay
        }
    }

    /// The reply on an HTTP/1.1 connection.
    func http1Bytes() -> [UInt8] {
        switch self {
        case .raw(let text, _):
            return Array(text.utf8)
        case .trailersOnly(let status, let message, _):
            var head = "HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ngrpc-status: \(status)\r\n"
            if let message { head += "grpc-message: \(message)\r\n" }
            return Array((head + "content-length: 0\r\n\r\n").utf8)
        case .messages(let messages, let status, let message, let trailers, let split, _):
            var out = Array("HTTP/1.1 200 OK\r\ncontent-type: application/grpc\r\ntransfer-encoding: chunked\r\n\r\n".utf8)
            var body: [[UInt8]] = messages.map { GRPCFrame(payload: $0).bytes }
            if split > 0 {
                let all = body.flatMap { $0 }
                body = stride(from: 0, to: all.count, by: split).map { Array(all[$0..<min($0 + split, all.count)]) }
            }
            for chunk in body where !chunk.isEmpty {
                out += Array((String(chunk.count, radix: 16) + "\r\n").utf8) + chunk + [13, 10]
            }
            var tail = "0\r\ngrpc-status: \(status)\r\n"
            if let message { tail += "grpc-message: \(message)\r\n" }
            for (name, value) in trailers { tail += "\(name): \(value)\r\n" }
            return out + Array((tail + "\r\n").utf8)
        }
    }
}

/// A length-prefixed gRPC message (flags 0x80: a gRPC-Web trailer frame).
public struct GRPCFrame: Sendable, Equatable {
    public var flags: UInt8
    public var payload: [UInt8]

    public init(flags: UInt8 = 0, payload: [UInt8]) {
        self.flags = flags
        self.payload = payload
    }

    public var bytes: [UInt8] {
        let n = UInt32(payload.count)
        return [flags, UInt8(n >> 24), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + payload
    }

    /// The whole frames in `bytes` (a trailing partial frame is left out).
    public static func parse(_ bytes: [UInt8]) -> [GRPCFrame] {
        var frames: [GRPCFrame] = []
        var i = 0
        while i + 5 <= bytes.count {
            let n = Int(bytes[i + 1]) << 24 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 8 | Int(bytes[i + 4])
            guard i + 5 + n <= bytes.count else { break }
            frames.append(GRPCFrame(flags: bytes[i], payload: Array(bytes[(i + 5)..<(i + 5 + n)])))
            i += 5 + n
        }
        return frames
    }
}

final class GRPCUpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let script: @Sendable (GRPCCall) -> GRPCReply
    let log: GRPCUpstream.CallLog
    private var buffer: [UInt8] = []

    init(script: @escaping @Sendable (GRPCCall) -> GRPCReply, log: GRPCUpstream.CallLog) {
        self.script = script
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        buffer += unwrapInboundIn(data).readableBytesView
        while let call = HTTP1RequestReader.next(&buffer) {
            log.append(call)
            let reply = script(call)
            let bytes = reply.http1Bytes()
            let write = { context.writeAndFlush(self.wrapOutboundOut(ByteBuffer(bytes: bytes)), promise: nil) }
            if reply.delay > 0 {
                context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(reply.delay * 1000))) { write() }
            } else {
                write()
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// Takes one whole HTTP/1.1 request (content-length or chunked body) off the front of a
/// buffer, or nothing while it is incomplete.
enum HTTP1RequestReader {
    static func next(_ buffer: inout [UInt8]) -> GRPCCall? {
        guard let end = WireResponse.find([13, 10, 13, 10], in: buffer, from: 0) else { return nil }
        let lines = String(decoding: buffer[..<end], as: UTF8.self).split(separator: "\r\n")
        guard let requestLine = lines.first else { return nil }
        let parts = requestLine.split(separator: " ")
        var headers: [(String, String)] = []
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            if pair.count == 2 { headers.append((pair[0].lowercased(), String(pair[1].trimmingSpaces()))) }
        }
        var call = GRPCCall(method: parts.count > 0 ? String(parts[0]) : "", path: parts.count > 1 ? String(parts[1]) : "",
                            headers: headers, body: [])
        var i = end + 4
        if call.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                guard let lineEnd = WireResponse.find([13, 10], in: buffer, from: i) else { return nil }
                let sizeText = String(decoding: buffer[i..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
                guard let size = Int(sizeText.trimmingSpaces(), radix: 16) else { return nil }
                i = lineEnd + 2
                if size == 0 {
                    guard let trailersEnd = WireResponse.find([13, 10], in: buffer, from: i) else { return nil }
                    if trailersEnd == i {
                        i += 2
                    } else {
                        guard let blank = WireResponse.find([13, 10, 13, 10], in: buffer, from: i) else { return nil }
                        i = blank + 4
                    }
                    break
                }
                guard buffer.count >= i + size + 2 else { return nil }
                call.body += buffer[i..<(i + size)]
                i += size + 2
            }
        } else {
            let length = Int(call.header("content-length") ?? "0") ?? 0
            guard buffer.count >= i + length else { return nil }
            call.body = Array(buffer[i..<(i + length)])
            i += length
        }
        buffer.removeFirst(i)
        return call
    }
}
