import FerryGRPC
import FerryTelemetry
import NIOCore

/// The response of a transcoded call, as Envoy 1.40's transcoder answers it:
///
/// - A response that is not gRPC (a plain 503, a local reply) passes through untouched.
/// - Unary: the head waits (`deferResponseHead`) for the end; the message's JSON is the body
///   (`content-type: application/json`), the HTTP status follows the trailers' `grpc-status`
///   (`grpcToHttpStatus`; 503 without one), and a failed call's `grpc-status` / `grpc-message`
///   are copied into the head (unless `convert_grpc_status` put them in the body).
/// - Server streaming: a 200 whose JSON array (or lines, or events) is written as frames come.
/// - Trailers-only answers (`grpc-status` in the head) keep their head, with the mapped status.
/// - `convert_grpc_status`: a failed call without a body answers the `google.rpc.Status` JSON.
/// - A frame above `max_response_body_size` or a message that does not parse: 500 (unary).
extension GRPCJSONTranscoderFilter {
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard match != nil else { return }
        // Envoy: a head that ends the stream is trailers-only. HTTP/1 upstreams say so with
        // `content-length: 0`; over HTTP/2 the head carries `grpc-status` (only a
        // trailers-only answer has it before the body).
        let endStream = head.headers.first("content-length") == "0" || head.headers.contains("grpc-status")
        guard GRPCProtocol.isGRPCResponse(head, endStream: endStream) else { return }
        transcoding = true
        trailersOnly = endStream
        head.headers.remove("content-length")
        if !trailersOnly {
            head.headers.set("content-type", "application/json")
            if match!.binding.method.serverStreaming {
                streamWriter = JSONStreamWriter(options: transcoder.options.printOptions)
                return
            }
        }
        stream.deferResponseHead()
    }

    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {
        guard transcoding, let binding = match?.binding else { return }
        guard responseFailure == nil else { return data.clear() }
        frames.append(data.readableBytesView)
        data.clear()
        var out: [UInt8] = []
        do {
            while let message = try frames.next() {
                let json = try transcoder.responseJSON(message: message, binding: binding)
                if streamWriter != nil { out += streamWriter!.next(json) } else { unaryJSON = json }
            }
        } catch {
            responseFailure = "Response not transcoded: \(error)"
            return
        }
        if !out.isEmpty { data = ByteBuffer(bytes: out) }
    }

    func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer? {
        guard transcoding, var head = stream.responseHead else { return nil }
        if let writer = streamWriter {
            let end = writer.finish()
            return end.isEmpty ? nil : ByteBuffer(bytes: end)
        }
        let fields = trailersOnly ? head.headers : (trailers ?? HeaderMap())
        trailers = nil
        var body = unaryJSON
        let code = fields.first("grpc-status").flatMap { UInt64($0) }
        if let failure = responseFailure {
            head.status = 500
            head.headers.set("content-type", "text/plain")
            body = Array(failure.utf8)
        } else if let code {
            head.status = GRPCStatusCode.httpStatus(forGRPC: code)
            if !trailersOnly {
                head.headers.set("grpc-status", String(code))
                if let message = fields.first("grpc-message") { head.headers.set("grpc-message", message) }
            }
            if code != 0, body.isEmpty, config.convertGRPCStatus, let json = statusJSON(code, fields) {
                body = json
                head.headers.set("content-type", "application/json")
                // The status is in the body now (Envoy 1.40 drops it from the head in both cases).
                for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] { head.headers.remove(name) }
            }
        } else {
            head.status = 503
        }
        head.headers.set("content-length", String(body.count))
        stream.responseHead = head
        return body.isEmpty ? nil : ByteBuffer(bytes: body)
    }

    /// `google.rpc.Status` as JSON, from `grpc-status-details-bin` or the status and message.
    private func statusJSON(_ code: UInt64, _ fields: HeaderMap) -> [UInt8]? {
        var details: [UInt8]?
        if var text = fields.first("grpc-status-details-bin") {
            text += String(repeating: "=", count: (4 - text.utf8.count % 4) % 4)
            var decoder = Base64StreamDecoder()
            guard case .success(let bytes) = decoder.decode(ByteBuffer(string: text), end: true) else { return nil }
            details = Array(bytes.readableBytesView)
        }
        // `grpc-message` is percent-encoded (gRPC's PROTOCOL-HTTP2); a bad escape stays as it is.
        let message = fields.first("grpc-message").map { QueryString.percentDecoded($0[...]) } ?? ""
        return transcoder.statusJSON(code: Int(code), message: message, detailsBin: details)
    }
}
