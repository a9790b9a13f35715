import FerryConfig
import FerryGRPC
import FerryTelemetry
import NIOCore

/// `envoy.filters.http.grpc_json_transcoder`: a REST/JSON request that matches a
/// `google.api.http` rule of the configured services becomes a gRPC call, and the gRPC
/// response becomes JSON, as Envoy 1.40's filter does (docs/grpc-transcoding.md).
///
/// Request: the head becomes `POST /pkg.Service/Method` with `content-type: application/grpc`
/// and `te: trailers` (`x-envoy-original-path` and `x-envoy-original-method` keep the client's);
/// the route is chosen again on the new path unless `match_incoming_request_route`. The JSON body
/// is held (`bufferRequestBody`, up to `max_request_body_size`) and replaced by the gRPC frame(s)
/// of the message that FerryGRPC builds from the path variables, the query and the body (400 with
/// FerryGRPC's message when they do not fit). A gRPC request, one no rule matches, and one with a
/// query parameter naming no field pass through untouched (unless `request_validation_options`
/// rejects them). The response side is in `GRPCJSONTranscoderFilter+Response`.
final class GRPCJSONTranscoderFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let config: GRPCJSONTranscoderConfig

    init(name: String, disabledByDefault: Bool, config: GRPCJSONTranscoderConfig) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        self.config = config
    }

    /// Envoy lets a route replace the whole config (`typed_per_filter_config`).
    func compileRouteConfig(_ override: FilterOverride, scope: String, context: FilterFactoryContext) -> (any Sendable)? {
        guard case .grpcJSONTranscoder(let routeConfig)? = override.kind else {
            context.diagnostics.error(override.location, override.path, "\(name) needs a GrpcJsonTranscoder per-route config",
                                      fix: "use type.googleapis.com/\(GRPCJSONTranscoderConfig.messageName), or `disabled: true`")
            return nil
        }
        return routeConfig
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? {
        GRPCJSONTranscoderFilter(config: routeConfig as? GRPCJSONTranscoderConfig ?? config)
    }
}

final class GRPCJSONTranscoderFilter: StreamFilter {
    let config: GRPCJSONTranscoderConfig
    /// The binding of a request being transcoded; nil for a request that passes through.
    var match: HTTPMatch?
    private var query = ""
    /// The response is gRPC being turned into JSON.
    var transcoding = false
    /// The response was a trailers-only answer (its head holds `grpc-status`).
    var trailersOnly = false
    lazy var frames = GRPCFrameDecoder(maxMessageSize: config.maxResponseBodySize)
    /// A server stream's JSON layout; nil for a unary response, whose JSON waits for the end.
    var streamWriter: JSONStreamWriter?
    var unaryJSON: [UInt8] = []
    /// Why the response could not be transcoded (it then becomes a 500 with this text).
    var responseFailure: String?

    init(config: GRPCJSONTranscoderConfig) { self.config = config }

    var transcoder: TranscoderConfig { config.transcoder }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        guard !GRPCProtocol.isGRPC(contentType: stream.request.headers.first("content-type")) else { return .proceed }
        guard let match = transcoder.match(method: stream.request.method, path: stream.request.path) else {
            guard config.rejectUnknownMethod else { return .proceed }
            reject(stream, 404, "Could not resolve \(stream.request.pathWithoutQuery) to a method.")
            return .stop
        }
        let query = String(stream.request.query ?? "")
        do {
            if try !transcoder.unknownQueryParameters(match, query: query).isEmpty {
                guard config.rejectUnknownQueryParameters else { return .proceed }
                // Throws `.unknownQueryParameter`, whose message names the parameter.
                _ = try transcoder.requestMessage(match, query: query, body: [])
            }
        } catch {
            reject(stream, 400, "\(error)")
            return .stop
        }
        self.match = match
        self.query = query
        // Local replies stay plain HTTP: Envoy decides that from the client's head.
        stream.translatedToGRPC = true
        rewriteHead(stream, grpcPath: match.binding.method.grpcPath)
        if endStream {
            stream.bufferRequestBody(limit: config.maxRequestBodySize) {}
            return transcodeBody(stream) ? .proceed : .stop
        }
        stream.bufferRequestBody(limit: config.maxRequestBodySize) { [unowned self, unowned stream] in
            if self.transcodeBody(stream) { stream.continueDecoding() }
        }
        return .stop
    }

    /// The gRPC call's head, as Envoy writes it.
    private func rewriteHead(_ stream: ActiveStream, grpcPath: String) {
        stream.request.headers.set("x-envoy-original-path", stream.request.path)
        stream.request.headers.set("x-envoy-original-method", stream.request.method)
        stream.request.path = grpcPath
        stream.request.method = "POST"
        stream.request.headers.remove("content-length")
        stream.request.headers.set("content-type", "application/grpc")
        stream.request.headers.set("te", "trailers")
        if !config.matchIncomingRequestRoute { stream.clearRouteCache() }
    }

    /// Replaces the held JSON body with the gRPC frame(s); false after answering 400.
    private func transcodeBody(_ stream: ActiveStream) -> Bool {
        guard let match, let held = stream.requestBodyBuffer else { return false }
        var body: [UInt8] = []
        body.reserveCapacity(held.bytes)
        for chunk in held.chunks { body += chunk.readableBytesView }
        do {
            let messages = match.binding.method.clientStreaming
                ? try transcoder.requestMessages(match, query: query, body: body)
                : [try transcoder.requestMessage(match, query: query, body: body)]
            stream.replaceRequestBody(ByteBuffer(bytes: messages.flatMap(GRPCFrame.encode)))
            return true
        } catch {
            reject(stream, 400, "\(error)")
            return false
        }
    }

    /// A local reply for a request that cannot be transcoded (details as Envoy's).
    private func reject(_ stream: ActiveStream, _ status: Int, _ message: String) {
        match = nil
        stream.sendLocalReply(status, body: message, details: "grpc_json_transcode_failure")
    }
}
