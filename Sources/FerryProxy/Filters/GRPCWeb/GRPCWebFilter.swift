import FerryConfig
import NIOCore

/// `envoy.filters.http.grpc_web`: lets browsers call gRPC services (grpc/grpc
/// doc/PROTOCOL-WEB.md), as Envoy 1.40's filter does.
///
/// Request (`content-type` `application/grpc-web`, `-web+proto`, `-web-text`,
/// `-web-text+proto`): becomes `application/grpc` with `te: trailers` and
/// `grpc-accept-encoding: identity` (unless set); its length is dropped; a `-text` body is
/// base64-decoded as it streams (400 on bad base64). Response: `application/grpc-web+proto`
/// (`-web-text+proto` when the client accepts text); trailers become the body's last frame
/// (flag 0x80, `name:value\r\n` lines); for text, each message frame is base64-encoded on its
/// own, streamed (`GRPCWebTextEncoder`). A response that is not gRPC (a plain 503, a local reply) becomes a trailers-only
/// answer: its body (up to 16 KiB) is the `grpc-message`, `grpc-status` follows from the HTTP
/// status, and the HTTP status stays. gRPC-Web calls are counted as
/// `cluster.<name>.grpc-web.<service>.<method>.<grpc-status>|success|failure|total`.
final class GRPCWebFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool

    init(name: String, disabledByDefault: Bool) {
        self.name = name
        self.disabledByDefault = disabledByDefault
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? { GRPCWebFilter() }
}

final class GRPCWebFilter: StreamFilter {
    static let contentTypes: Set<String> = [
        "application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text", "application/grpc-web-text+proto",
    ]
    static let textTypes: Set<String> = ["application/grpc-web-text", "application/grpc-web-text+proto"]
    /// Envoy's MAX_BUFFERED_PLAINTEXT_LENGTH: how much of a non-gRPC body becomes grpc-message.
    static let maxMessageBytes = 16_384

    private var active = false
    private var textResponse = false
    private var stats: GRPCCallStats?
    private var requestDecoder: Base64StreamDecoder?
    /// Base64 of a text response, frame by frame.
    private var textEncoder = GRPCWebTextEncoder()
    /// A non-gRPC response being turned into a trailers-only answer: its body so far.
    private var plainBody: ByteBuffer?

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        guard let type = stream.request.headers.first("content-type"), Self.contentTypes.contains(type) else { return .proceed }
        active = true
        stream.translatedToGRPC = true
        if endStream {
            stream.request.headers.remove("content-length")
        } else {
            stream.requestBodyLengthChanges()
        }
        if Self.textTypes.contains(type) {
            requestDecoder = Base64StreamDecoder()
            if !endStream { stream.transformRequestBody(by: self) }
        }
        stream.request.headers.set("content-type", "application/grpc")
        if let accept = stream.request.headers.first("accept"), Self.textTypes.contains(accept) { textResponse = true }
        stream.request.headers.set("te", "trailers")
        if !stream.request.headers.contains("grpc-accept-encoding") {
            stream.request.headers.addLowercased("grpc-accept-encoding", "identity")
        }
        if let (service, method) = GRPCProtocol.serviceAndMethod(path: stream.request.path) {
            stats = GRPCCallStats(protocolName: "grpc-web", service: service, method: method)
        }
        return .proceed
    }

    func decodeData(_ stream: ActiveStream, _ data: inout ByteBuffer, endStream: Bool) {
        guard requestDecoder != nil else { return }
        switch requestDecoder!.decode(data, end: endStream) {
        case .success(let decoded):
            data = decoded
        case .failure(let failure):
            let details = failure == .badSize ? "grpc_base_64_decode_failed_bad_size" : "grpc_base_64_decode_failed"
            stream.sendLocalReply(400, body: "Bad gRPC-web request, invalid base64 data.", details: details)
        }
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard active else { return }
        if let status = head.headers.first("grpc-status") { stats?.charge(status: status, on: stream) }
        // A response with a zero length is complete with its head (Envoy: end_stream).
        let endStream = head.headers.first("content-length") == "0"
        let isGRPC = GRPCProtocol.isGRPCResponse(head, endStream: endStream) || Self.isProtoGRPCWeb(head)
        head.headers.remove("content-length")
        head.headers.set("content-type", textResponse ? "application/grpc-web-text+proto" : "application/grpc-web+proto")
        if endStream {
            head.headers.addLowercased("content-length", "0")
        } else if !isGRPC {
            // The head waits for the body, which becomes its grpc-message.
            plainBody = ByteBuffer()
            stream.deferResponseHead()
        }
    }

    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {
        guard active else { return }
        if plainBody != nil {
            let room = Self.maxMessageBytes - plainBody!.readableBytes
            if room > 0 {
                plainBody!.writeImmutableBuffer(data.getSlice(at: data.readerIndex, length: min(room, data.readableBytes))!)
            }
            data.clear()
            return
        }
        guard textResponse else { return }
        data = textEncoder.encode(data)
    }

    func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer? {
        guard active else { return nil }
        if let status = trailers?.first("grpc-status") { stats?.charge(status: status, on: stream) }
        if let body = plainBody {
            plainBody = nil
            if var head = stream.responseHead {
                head.headers.set("grpc-message", ActiveStream.percentEncodedGRPCMessage(String(buffer: body)))
                head.headers.set("grpc-status", String(ActiveStream.grpcStatus(forHTTP: head.status)))
                head.headers.set("content-length", "0")
                stream.responseHead = head
            }
            return nil
        }
        guard let fields = trailers else { return nil }
        trailers = nil
        let frame = GRPCProtocol.trailerFrame(fields)
        guard textResponse else { return frame }
        var encoded = ByteBuffer()
        Base64.encode(frame, into: &encoded)
        return encoded
    }

    /// A 200 response already in gRPC-Web's binary form (content-type parameters ignored).
    static func isProtoGRPCWeb(_ head: ResponseHead) -> Bool {
        guard head.status == 200, let type = head.headers.first("content-type") else { return false }
        var media = type.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false)[0]
        while media.last == " " || media.last == "\t" { media = media.dropLast() }
        let lower = media.lowercased()
        return lower == "application/grpc-web" || lower == "application/grpc-web+proto"
    }
}
