import FerryConfig
import NIOCore
import Testing

@testable import FerryProxy

/// `retry_on` gRPC conditions and `x-envoy-retry-grpc-on`, as Envoy 1.40's
/// RetryStateImpl: the response head's `grpc-status` (a trailers-only answer) decides.
@Suite("gRPC retry conditions")
struct GRPCRetryTests {
    static func grpcResponse(_ status: String) -> ResponseHead {
        var headers = HeaderMap()
        headers.addLowercased("content-type", "application/grpc")
        headers.addLowercased("grpc-status", status)
        return ResponseHead(status: 200, headers: headers)
    }

    @Test("each gRPC condition retries its own status only")
    func conditions() throws {
        let table: [(String, String)] = [("cancelled", "1"), ("deadline-exceeded", "4"), ("resource-exhausted", "8"),
                                         ("internal", "13"), ("unavailable", "14")]
        for (condition, status) in table {
            let state = try RetryStateTests.state("retry_on: \(condition)")
            for (_, other) in table { #expect(state.retries(Self.grpcResponse(other)) == (other == status), "\(condition) \(other)") }
            #expect(!state.retries(Self.grpcResponse("0")))
            #expect(!state.retries(Self.grpcResponse("2")))
        }
    }

    @Test("a gRPC condition needs a numeric grpc-status in the response head")
    func needsStatusInHead() throws {
        let state = try RetryStateTests.state("retry_on: unavailable")
        #expect(!state.retries(RetryStateTests.response(200)))
        #expect(!state.retries(RetryStateTests.response(503)))
        #expect(!state.retries(Self.grpcResponse("fourteen")))
    }

    @Test("x-envoy-retry-grpc-on adds gRPC conditions; x-envoy-retry-on ignores gRPC names, as Envoy")
    func headers() throws {
        var grpcOn = HeaderMap()
        grpcOn.addLowercased("x-envoy-retry-grpc-on", "cancelled, unavailable,5xx")
        let viaGRPCHeader = try RetryStateTests.state("retry_on: reset", headers: grpcOn)
        #expect(viaGRPCHeader.conditions == [.reset, .grpcCancelled, .grpcUnavailable])
        var retryOn = HeaderMap()
        retryOn.addLowercased("x-envoy-retry-on", "unavailable,5xx")
        let viaRetryOn = try RetryStateTests.state("retry_on: reset", headers: retryOn)
        #expect(viaRetryOn.conditions == [.reset, .fiveXX])
        #expect(RetryState.consumedHeaders.contains("x-envoy-retry-grpc-on"))
    }
}
