import FerryConfig
import FerryPolicy
import NIOCore
import NIOHPACK
import NIOHTTP2

/// What a health check session asks of its check connection: one probe at a time.
protocol HealthCheckProbe: AnyObject {
    var isActive: Bool { get }
    func probe(request: ByteBuffer, _ done: @escaping (HealthCheckHandler.Result) -> Void)
}

extension HealthCheckHandler: HealthCheckProbe {}

/// `grpc.health.v1.Health/Check` over an HTTP/2 check connection: sits after `NIOHTTP2Handler`
/// and opens one stream per probe. Envoy's verdict: healthy only on `:status` 200, grpc-status
/// 0 and status SERVING; any other answer is an active failure, a reset or lost connection a
/// network failure.
final class GRPCHealthCheckHandler: ChannelInboundHandler, HealthCheckProbe {
    typealias InboundIn = HTTP2Frame

    struct Settings {
        let headers: HPACKHeaders
    }

    private let settings: Settings
    private var context: ChannelHandlerContext?
    private var multiplexer: NIOHTTP2Handler.StreamMultiplexer?

    init(settings: Settings) { self.settings = settings }

    static func install(on channel: Channel, settings: Settings) throws {
        let codec = NIOHTTP2Handler(mode: .client, eventLoop: channel.eventLoop) { pushed in
            pushed.close(promise: nil)
            return pushed.eventLoop.makeSucceededVoidFuture()
        }
        let handler = GRPCHealthCheckHandler(settings: settings)
        try channel.pipeline.syncOperations.addHandler(codec)
        try channel.pipeline.syncOperations.addHandler(handler)
        handler.multiplexer = try codec.syncMultiplexer()
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func probe(request: ByteBuffer, _ done: @escaping (HealthCheckHandler.Result) -> Void) {
        guard let multiplexer, let loop = context?.eventLoop, isActive else {
            return done(.init(outcome: .networkFailure, reusable: false))
        }
        let call = NIOLoopBound(GRPCHealthCheckCall(headers: settings.headers, message: request, done: done), eventLoop: loop)
        multiplexer.createStreamChannel { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(call.value) }
        }.assumeIsolated().whenFailure { _ in call.value.fail() }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
}

/// One Health/Check call on its stream channel.
final class GRPCHealthCheckCall: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let headers: HPACKHeaders
    private let message: ByteBuffer
    private var done: ((HealthCheckHandler.Result) -> Void)?
    private var status: Int?
    private var grpcStatus: String?
    private var body = ByteBuffer()

    init(headers: HPACKHeaders, message: ByteBuffer, done: @escaping (HealthCheckHandler.Result) -> Void) {
        self.headers = headers
        self.message = message
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        context.write(wrapOutboundOut(.headers(.init(headers: headers))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.data(.init(data: .byteBuffer(message), endStream: true))), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let block):
            if status == nil, let text = block.headers.first(name: ":status") { status = Int(text) }
            // grpc-status arrives in the trailers, or in the headers of a trailers-only answer.
            if let value = block.headers.first(name: "grpc-status") { grpcStatus = value }
            if block.endStream { finish(context: context) }
        case .data(let frame):
            if case .byteBuffer(var bytes) = frame.data { body.writeBuffer(&bytes) }
            if frame.endStream { finish(context: context) }
        default:
            break
        }
    }

    private func finish(context: ChannelHandlerContext) {
        let serving = status == 200 && grpcStatus == "0" && GRPCHealthMessage.servingStatus(body) == GRPCHealthMessage.serving
        report(serving ? .success : .activeFailure)
    }

    /// The stream never opened.
    func fail() { report(.networkFailure) }

    private func report(_ outcome: HealthCheckStateMachine.Outcome) {
        guard let done else { return }
        self.done = nil
        done(.init(outcome: outcome, reusable: outcome != .networkFailure))
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        report(.networkFailure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        report(.networkFailure)
        context.fireChannelInactive()
    }
}

/// The two tiny protobuf messages of `grpc.health.v1`, framed as gRPC messages (a flag byte and
/// a 4-byte length before each).
enum GRPCHealthMessage {
    /// `HealthCheckResponse.ServingStatus.SERVING`.
    static let serving = 1
    static let path = "/grpc.health.v1.Health/Check"

    /// `HealthCheckRequest { string service = 1; }` as one uncompressed gRPC message.
    static func request(service: String) -> ByteBuffer {
        var payload: [UInt8] = []
        if !service.isEmpty {
            payload.append(0x0A)  // field 1, length-delimited
            appendVarint(UInt64(service.utf8.count), to: &payload)
            payload.append(contentsOf: service.utf8)
        }
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeBytes(payload)
        return buffer
    }

    /// `HealthCheckResponse.status` (field 1, varint) of the first gRPC message in `body`;
    /// nil when the body is not one uncompressed message. An absent field is 0 (UNKNOWN).
    static func servingStatus(_ body: ByteBuffer) -> Int? {
        var body = body
        guard let flag = body.readInteger(as: UInt8.self), flag == 0, let length = body.readInteger(as: UInt32.self),
              let message = body.readBytes(length: Int(length)) else { return nil }
        var i = 0
        var status = 0
        while i < message.count {
            guard let key = readVarint(message, &i) else { return nil }
            switch key & 7 {
            case 0:
                guard let value = readVarint(message, &i) else { return nil }
                if key >> 3 == 1 { status = Int(truncatingIfNeeded: value) }
            case 2:
                guard let n = readVarint(message, &i), i + Int(n) <= message.count else { return nil }
                i += Int(n)
            case 1: i += 8
            case 5: i += 4
            default: return nil
            }
        }
        return i == message.count ? status : nil
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func readVarint(_ bytes: [UInt8], _ i: inout Int) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while i < bytes.count, shift < 64 {
            let byte = bytes[i]
            i += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }

    /// The request headers of a check: Envoy's pseudo-headers, gRPC's, then `initial_metadata`.
    static func headers(_ check: GRPCHealthCheck, cluster: String, scheme: String) -> HPACKHeaders {
        var headers = HPACKHeaders([(":method", "POST"), (":scheme", scheme),
                                    (":authority", check.authority.isEmpty ? cluster : check.authority),
                                    (":path", path), ("content-type", "application/grpc"), ("te", "trailers"),
                                    ("user-agent", "Envoy/HC")])
        for (name, value) in check.initialMetadata { headers.add(name: name, value: value) }
        return headers
    }
}
