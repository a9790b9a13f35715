import FerryTestKit
import Foundation
import Testing

/// The same REST/JSON requests through the real Envoy 1.40 and Ferry, both transcoding for the
/// same HTTP/1.1 gRPC upstream (Envoy reads its chunked trailers with `enable_trailers`): the
/// answers' status, content-type and JSON, and the gRPC calls the upstream got, must agree.
@Suite("gRPC-JSON transcoder against Envoy", .serialized)
struct GRPCTranscoderDifferentialTests {
    struct Seen: Equatable, CustomStringConvertible {
        var status: Int
        var contentType: String?
        var grpcStatus: String?
        var body: String
        /// The upstream's call: path, method and frames (nil: no call).
        var call: String?

        var description: String { "\(status) \(contentType ?? "-") grpc-status \(grpcStatus ?? "-") \(body) call: \(call ?? "none")" }
    }

    static let requestTypes = ["GetBook": "ferry.test.GetBookRequest", "CreateBook": "ferry.test.CreateBookRequest",
                               "CreateBookWhole": "ferry.test.CreateBookRequest", "StreamBooks": "ferry.test.GetBookRequest"]

    /// A call as method, path and its messages in protoc's text format (fields by number: Envoy
    /// writes a field body before the path variables, Ferry after; the messages are the same).
    static func describe(_ call: GRPCCall) async throws -> String {
        guard let type = requestTypes[String(call.path.split(separator: "/").last ?? "")] else {
            return "\(call.method) \(call.path) \(call.body)"
        }
        var messages: [String] = []
        for frame in call.frames { messages.append(try await ProtoFixtures.decode(type, frame.payload)) }
        return "\(call.method) \(call.path) \(messages)"
    }

    /// Sends each request through Envoy, then Ferry; what they saw must be the same.
    static func compare(_ extra: String = "", _ requests: [(method: String, path: String, json: String?)]) async throws {
        try await GRPCTranscoderTests.withProxies(extra, envoy: true) { proxies, upstream in
            var seen: [[Seen]] = []
            for proxy in proxies {
                var answers: [Seen] = []
                for (method, path, json) in requests {
                    let before = upstream.calls.count
                    let reply = try await GRPCTranscoderTests.send(proxy, method, path, json: json)
                    let call = upstream.calls.count > before ? upstream.calls.last : nil
                    answers.append(Seen(status: reply.status, contentType: reply.header("content-type"),
                                        grpcStatus: reply.header("grpc-status"), body: reply.body,
                                        call: try await call.asyncMap(describe)))
                }
                seen.append(answers)
            }
            for (i, request) in requests.enumerated() {
                #expect(seen[0][i] == seen[1][i], "\(request.method) \(request.path): envoy \(seen[0][i]) / ferry \(seen[1][i])")
            }
        }
    }

    @Test("unary calls, a server stream, failed calls and pass-through answer as in Envoy")
    func likeEnvoy() async throws {
        try await Self.compare("", [
            ("GET", "/v1/shelves/3/books/7?name=a%20b&include_reviews=true", nil),
            ("POST", "/v1/books:create", #"{"shelf":"2","book":{"name":"Emma"},"requestId":"r1"}"#),
            ("POST", "/v1/shelves/4/books", #"{"name":"Ulysses","tags":["a","b"]}"#),
            ("GET", "/v1/shelves/1/books:stream", nil),
            ("GET", "/v1/shelves/1/books/404", nil),
            ("GET", "/v1/shelves/1/books/403", nil),
            ("GET", "/plain?x=1", nil),
            ("GET", "/v1/shelves/1/books/2?nope=1", nil),
        ])
    }

    @Test("convert_grpc_status answers with the same google.rpc.Status JSON as Envoy")
    func convertedStatusLikeEnvoy() async throws {
        try await Self.compare("convert_grpc_status: true", [
            ("GET", "/v1/shelves/1/books/404", nil),
            ("GET", "/v1/shelves/1/books/403", nil),
        ])
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

@Suite("gRPC-JSON transcoder 400s against Envoy", .serialized)
struct GRPCTranscoderRejectionTests {
    @Test("a body or parameter that does not fit is a 400 in both, with a plain-text reason")
    func badRequestsLikeEnvoy() async throws {
        let requests: [(String, String, String?)] = [
            ("POST", "/v1/books:create", #"{"shelf":"#),
            ("POST", "/v1/books:create", #"{"shelf":"abc"}"#),
            ("GET", "/v1/shelves/x/books/1", nil),
        ]
        try await GRPCTranscoderTests.withProxies(envoy: true) { proxies, upstream in
            for (method, path, json) in requests {
                var statuses: [Int] = []
                for proxy in proxies {
                    let reply = try await GRPCTranscoderTests.send(proxy, method, path, json: json)
                    statuses.append(reply.status)
                    #expect(!reply.body.isEmpty, "\(proxy.name) \(path)")
                    #expect(reply.header("grpc-status") == nil, "\(proxy.name) \(path): a plain HTTP reply")
                }
                #expect(statuses == [400, 400], "\(method) \(path) \(json ?? ""): envoy, ferry")
            }
            #expect(upstream.calls.isEmpty)
        }
    }
}
