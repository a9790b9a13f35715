import FerryTelemetry

/// Local replies to gRPC requests, as Envoy sends them over HTTP/1: status 200 and a
/// trailers-only gRPC answer in the head (`content-type: application/grpc`, `grpc-status`,
/// `grpc-message` from the reply body), with no body.
extension ActiveStream {
    /// Envoy's `Grpc::Common::isGrpcRequestHeaders`: content-type `application/grpc`, or with
    /// a `+suffix` or `;parameters`.
    var isGRPCRequest: Bool {
        !translatedToGRPC && GRPCProtocol.isGRPC(contentType: request.headers.first("content-type"))
    }

    /// The gRPC fields first, then `extra` (Envoy's order); `grpcStatus` or, without one, the
    /// status Envoy derives from the HTTP status (`Grpc::Utility::httpToGrpcStatus`).
    func grpcReplyHeaders(status: Int, grpcStatus: UInt64?, message: String, extra: HeaderMap) -> HeaderMap {
        var headers = HeaderMap()
        headers.addLowercased("content-type", "application/grpc")
        headers.addLowercased("grpc-status", String(grpcStatus ?? Self.grpcStatus(forHTTP: status)))
        if !message.isEmpty { headers.addLowercased("grpc-message", Self.percentEncodedGRPCMessage(message)) }
        for (name, value) in extra where name != "content-type" { headers.addLowercased(name, value) }
        return headers
    }

    static func grpcStatus(forHTTP status: Int) -> UInt64 { GRPCStatusCode.fromHTTP(status) }

    /// gRPC's percent-encoding of `grpc-message`: printable ASCII but `%` stays as it is.
    static func percentEncodedGRPCMessage(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 < 0x20 || $0 > 0x7E || $0 == UInt8(ascii: "%") }) else { return text }
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            if byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%") {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
