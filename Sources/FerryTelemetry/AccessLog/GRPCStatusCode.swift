/// gRPC status codes as Envoy names and derives them (`Grpc::Utility`), shared by the access
/// log's `%GRPC_STATUS%` and the proxy's gRPC local replies.
public enum GRPCStatusCode {
    /// Envoy's `hasGrpcContentType`: `application/grpc`, or with a `+suffix` or `;params`.
    public static func isGRPC(contentType: String?) -> Bool {
        guard let type = contentType, type.hasPrefix("application/grpc") else { return false }
        let rest = type.utf8.dropFirst("application/grpc".utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "+") || rest.first == UInt8(ascii: ";")
    }

    /// `httpToGrpcStatus`: the status a gRPC client sees for an HTTP status.
    public static func fromHTTP(_ status: Int) -> UInt64 {
        switch status {
        case 400: 13  // INTERNAL
        case 401: 16  // UNAUTHENTICATED
        case 403: 7  // PERMISSION_DENIED
        case 404: 12  // UNIMPLEMENTED
        case 429, 502, 503, 504: 14  // UNAVAILABLE
        default: 2  // UNKNOWN
        }
    }

    /// `grpcToHttpStatus`: the HTTP status for a gRPC status (the transcoder's answers).
    public static func httpStatus(forGRPC code: UInt64) -> Int {
        let map = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401]
        return code < UInt64(map.count) ? map[Int(code)] : 500
    }

    static let camelNames = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
                             "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
                             "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated"]
    static let snakeNames = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                             "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
                             "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]

    /// `grpcStatusToString` (`DeadlineExceeded`); nil outside the known codes.
    public static func camelName(_ code: Int64) -> String? { (0..<17).contains(code) ? camelNames[Int(code)] : nil }
    /// `absl::StatusCodeToString` (`DEADLINE_EXCEEDED`); nil outside the known codes.
    public static func snakeName(_ code: Int64) -> String? { (0..<17).contains(code) ? snakeNames[Int(code)] : nil }

    /// Envoy's `getGrpcStatus(trailers, headers, info)`: the trailers' `grpc-status`, else the
    /// head's, else derived from the response code; a value that is not a number is Envoy's
    /// InvalidCode, -1. Nil when none applies.
    public static func of<Info: StreamInfo>(_ info: Info) -> Int64? {
        for text in [info.responseTrailer("grpc-status"), info.responseHeader("grpc-status")] {
            guard let text, !text.isEmpty else { continue }
            return UInt64(text).map { Int64(clamping: $0) } ?? -1
        }
        return info.responseCode.map { Int64(fromHTTP($0)) }
    }
}
