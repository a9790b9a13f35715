@testable import FerryConfig
@testable import FerryTelemetry
import Testing

/// `%GRPC_STATUS%` and `%GRPC_STATUS_NUMBER%` as Envoy 1.40's GrpcStatusFormatter: gRPC
/// requests only; trailers, then the head, then the mapped response code; unnamed codes as
/// numbers. (The CAMEL_STRING default is also compared with the real Envoy in GRPCRouterTests.)
@Suite("gRPC status in access logs")
struct GRPCStatusFormatTests {
    static func grpc(_ configure: (FakeStreamInfo) -> Void = { _ in }) -> FakeStreamInfo {
        let info = FakeStreamInfo()
        info.requestHeaders["content-type"] = "application/grpc+proto"
        info.responseCode = 200
        configure(info)
        return info
    }

    @Test("Envoy's names: OK in capitals, the rest camel case (checked with Envoy 1.40)")
    func names() throws {
        #expect(try line("%GRPC_STATUS%", Self.grpc { $0.responseHeaders["grpc-status"] = "0" }) == "OK")
        #expect(try line("%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)%", Self.grpc { $0.responseHeaders["grpc-status"] = "1" })
                == "Canceled CANCELLED")
    }

    @Test("the three formats, and the trailers winning over the head")
    func formats() throws {
        let info = Self.grpc {
            $0.responseHeaders["grpc-status"] = "0"
            $0.responseTrailers["grpc-status"] = "4"
        }
        #expect(try line("%GRPC_STATUS%", info) == "DeadlineExceeded")
        #expect(try line("%GRPC_STATUS(CAMEL_STRING)%", info) == "DeadlineExceeded")
        #expect(try line("%GRPC_STATUS(SNAKE_STRING)%", info) == "DEADLINE_EXCEEDED")
        #expect(try line("%GRPC_STATUS(NUMBER)%", info) == "4")
        #expect(try line("%GRPC_STATUS_NUMBER%", info) == "4")
        #expect(json([("s", try cmd("%GRPC_STATUS_NUMBER%"))], info) == "{\"s\":4}\n")
    }

    @Test("without grpc-status the response code maps; user-defined and invalid codes print as numbers; plain HTTP logs -")
    func fallbacks() throws {
        #expect(try line("%GRPC_STATUS%", Self.grpc { $0.responseCode = 503 }) == "Unavailable")
        #expect(try line("%GRPC_STATUS%", Self.grpc { $0.responseHeaders["grpc-status"] = "42" }) == "42")
        // Checked with Envoy 1.40: a grpc-status that is no number logs as InvalidCode, -1.
        #expect(try line("%GRPC_STATUS% %GRPC_STATUS(SNAKE_STRING)%", Self.grpc { $0.responseHeaders["grpc-status"] = "x" }) == "-1 -1")
        let plain = FakeStreamInfo()
        plain.responseCode = 503
        #expect(try line("%GRPC_STATUS%", plain) == "-")
    }

    @Test("an unknown GRPC_STATUS format is a config error")
    func badFormat() {
        #expect(throws: FormatString.ParseError.self) { try FormatString(parsing: "%GRPC_STATUS(LOWER)%") }
    }
}
