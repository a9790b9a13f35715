import FerryTestKit
import Foundation
import Testing

/// `envoy.filters.http.grpc_json_transcoder` through the real proxy: curl sends REST/JSON,
/// the scripted HTTP/1.1 gRPC upstream records the gRPC call it gets (decoded with `protoc`)
/// and answers frames and trailers, which must come back as JSON. The schema is FerryGRPCTests'
/// `kitchen.proto` (`ferry.test.Bookstore`), its descriptor set made with `protoc` per run.
@Suite("gRPC-JSON transcoder", .serialized)
struct GRPCTranscoderTests {
    static let service = "/ferry.test.Bookstore/"

    static func filter(_ descriptor: String, _ extra: String = "") -> String {
        """
        - name: envoy.filters.http.grpc_json_transcoder
          typed_config:
            "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
            proto_descriptor: \(descriptor)
            services: [ferry.test.Bookstore]
            \(extra)
        """
    }

    /// The upstream: GetBook answers `book` (status 5 for book 404, trailers-only 7 for book
    /// 403), StreamBooks two books, other gRPC methods `book`, anything else plain text.
    static func script(book: [UInt8], second: [UInt8]) -> @Sendable (GRPCCall) -> GRPCReply {
        { call in
            if call.path.hasSuffix("/StreamBooks") { return .messages([book, second]) }
            guard call.path.hasPrefix(service) else {
                return .raw("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nplain")
            }
            let original = call.header("x-envoy-original-path") ?? ""
            if original.hasSuffix("/books/404") { return .messages([], status: 5, message: "no%20such book") }
            if original.hasSuffix("/books/403") { return .trailersOnly(status: 7, message: "denied") }
            return .messages([book])
        }
    }

    /// Runs Ferry with the transcoder (`extra` fields) in front of the scripted upstream.
    static func with(_ extra: String = "", routes: String = "",
                     _ body: (GRPCProxy, GRPCUpstream) async throws -> Void) async throws {
        try await withProxies(extra, routes: routes) { proxies, upstream in try await body(proxies[0], upstream) }
    }

    /// Ferry (and with `envoy` the real Envoy first, reading the upstream's chunked trailers)
    /// on the same transcoder config.
    static func withProxies(_ extra: String = "", routes: String = "", envoy: Bool = false,
                            _ body: ([GRPCProxy], GRPCUpstream) async throws -> Void) async throws {
        let directory = NSTemporaryDirectory() + "ferry-transcoder-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let descriptor = directory + "/api.pb"
        try await ProtoFixtures.descriptorSet(at: descriptor, forEnvoy: true)
        let book = try await ProtoFixtures.encode("ferry.test.Book", #"id: 7 name: "Dune" author: "Herbert""#)
        let second = try await ProtoFixtures.encode("ferry.test.Book", #"id: 8 name: "Emma""#)
        try await GRPCSupport.with(script(book: book, second: second), envoy: envoy, yaml: {
            GRPCSupport.bootstrap(port: $0, routes: routes, httpFilters: filter(descriptor, extra))
        }, envoyYAML: {
            GRPCSupport.bootstrap(port: $0, routes: routes, httpFilters: filter(descriptor, extra), clusterExtra: GRPCSupport.envoyTrailers)
        }, body)
    }

    static func send(_ proxy: GRPCProxy, _ method: String, _ path: String, json: String? = nil) async throws -> Curl.Result {
        var arguments = ["-X", method, proxy.url(path)]
        if let json { arguments += ["-H", "content-type: application/json", "--data-binary", json] }
        return try await Curl.fetch(arguments)
    }

    /// The request message of the upstream's last call, in protoc's text format.
    static func lastRequest(_ upstream: GRPCUpstream, as type: String) async throws -> String {
        let call = try #require(upstream.calls.last)
        let frames = call.frames
        try #require(frames.count == 1, "one gRPC frame, got \(call.body)")
        return try await ProtoFixtures.decode(type, frames[0].payload)
    }

    @Test("GET with path variables and query parameters becomes a unary gRPC call; its answer JSON")
    func getWithVariablesAndQuery() async throws {
        try await Self.with { proxy, upstream in
            let reply = try await Self.send(proxy, "GET", "/v1/shelves/3/books/7?name=a%20b&include_reviews=true")
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "application/json")
            #expect(reply.body == #"{"id":"7","name":"Dune","author":"Herbert"}"#)
            let call = try #require(upstream.calls.last)
            #expect(call.method == "POST")
            #expect(call.path == "/ferry.test.Bookstore/GetBook")
            #expect(call.header("content-type") == "application/grpc")
            #expect(call.header("te") == "trailers")
            #expect(call.header("x-envoy-original-path") == "/v1/shelves/3/books/7?name=a%20b&include_reviews=true")
            #expect(call.header("x-envoy-original-method") == "GET")
            let request = try await Self.lastRequest(upstream, as: "ferry.test.GetBookRequest")
            #expect(request == "shelf: 3\nbook: 7\nname: \"a b\"\ninclude_reviews: true\n")
        }
    }

    @Test("POST with body \"*\" and with a field body builds the request message from JSON and path")
    func postBodies() async throws {
        try await Self.with { proxy, upstream in
            let whole = try await Self.send(proxy, "POST", "/v1/books:create", json: #"{"shelf":"2","book":{"name":"Emma"},"requestId":"r1"}"#)
            #expect(whole.status == 200)
            let first = try await Self.lastRequest(upstream, as: "ferry.test.CreateBookRequest")
            #expect(first == "shelf: 2\nbook {\n  name: \"Emma\"\n}\nrequest_id: \"r1\"\n")
            let field = try await Self.send(proxy, "POST", "/v1/shelves/4/books", json: #"{"name":"Ulysses","tags":["a","b"]}"#)
            #expect(field.status == 200)
            #expect(upstream.calls.last?.path == "/ferry.test.Bookstore/CreateBook")
            let second = try await Self.lastRequest(upstream, as: "ferry.test.CreateBookRequest")
            #expect(second == "shelf: 4\nbook {\n  name: \"Ulysses\"\n  tags: \"a\"\n  tags: \"b\"\n}\n")
        }
    }

    @Test("bad JSON and a value that does not fit its field are 400s that never reach the upstream")
    func badRequests() async throws {
        try await Self.with { proxy, upstream in
            let malformed = try await Self.send(proxy, "POST", "/v1/books:create", json: #"{"shelf":"#)
            #expect(malformed.status == 400)
            #expect(!malformed.body.isEmpty)
            let wrongType = try await Self.send(proxy, "GET", "/v1/shelves/x/books/1")
            #expect(wrongType.status == 400)
            #expect(wrongType.body.contains("shelf"))
            #expect(upstream.calls.isEmpty)
        }
    }

    @Test("a failed call maps grpc-status to the HTTP status; trailers-only answers too")
    func errorStatus() async throws {
        try await Self.with { proxy, _ in
            let notFound = try await Self.send(proxy, "GET", "/v1/shelves/1/books/404")
            #expect(notFound.status == 404)
            #expect(notFound.header("grpc-status") == "5")
            #expect(notFound.header("grpc-message") == "no%20such book")
            #expect(notFound.body.isEmpty)
            let denied = try await Self.send(proxy, "GET", "/v1/shelves/1/books/403")
            #expect(denied.status == 403)
            #expect(denied.header("grpc-status") == "7")
        }
    }

    @Test("convert_grpc_status answers a failed call with the google.rpc.Status JSON")
    func convertedStatus() async throws {
        try await Self.with("convert_grpc_status: true") { proxy, _ in
            let notFound = try await Self.send(proxy, "GET", "/v1/shelves/1/books/404")
            #expect(notFound.status == 404)
            #expect(notFound.header("content-type") == "application/json")
            #expect(notFound.body == #"{"code":5,"message":"no such book"}"#)
            let denied = try await Self.send(proxy, "GET", "/v1/shelves/1/books/403")
            #expect(denied.status == 403)
            #expect(denied.header("grpc-status") == nil)
            #expect(denied.body == #"{"code":7,"message":"denied"}"#)
        }
    }

    @Test("a server stream becomes a JSON array, or lines with stream_newline_delimited")
    func serverStream() async throws {
        try await Self.with { proxy, _ in
            let reply = try await Self.send(proxy, "GET", "/v1/shelves/1/books:stream")
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "application/json")
            #expect(reply.body == #"[{"id":"7","name":"Dune","author":"Herbert"},{"id":"8","name":"Emma"}]"#)
        }
        try await Self.with("print_options: {stream_newline_delimited: true, preserve_proto_field_names: true}") { proxy, _ in
            let reply = try await Self.send(proxy, "GET", "/v1/shelves/1/books:stream")
            #expect(reply.body == "{\"id\":\"7\",\"name\":\"Dune\",\"author\":\"Herbert\"}\n{\"id\":\"8\",\"name\":\"Emma\"}\n")
        }
    }

    @Test("requests no rule matches, gRPC requests and unknown query parameters pass through untouched")
    func passThrough() async throws {
        try await Self.with { proxy, upstream in
            let plain = try await Self.send(proxy, "GET", "/plain?x=1")
            #expect(plain.status == 200)
            #expect(plain.body == "plain")
            #expect(upstream.calls.last?.path == "/plain?x=1")
            #expect(upstream.calls.last?.method == "GET")
            let unknown = try await Self.send(proxy, "GET", "/v1/shelves/1/books/2?nope=1")
            #expect(unknown.body == "plain")
            #expect(upstream.calls.last?.path == "/v1/shelves/1/books/2?nope=1")
            let grpc = try await proxy.call("/ferry.test.Bookstore/GetBook", messages: [[8, 1]])
            #expect(grpc.status == 200)
            #expect(grpc.header("content-type") == "application/grpc")
            #expect(upstream.calls.last?.frames.map(\.payload) == [[8, 1]])
        }
    }

    @Test("request_validation_options reject unknown methods (404) and query parameters (400)")
    func validation() async throws {
        let options = "request_validation_options: {reject_unknown_method: true, reject_unknown_query_parameters: true}"
        try await Self.with(options) { proxy, upstream in
            let unknownMethod = try await Self.send(proxy, "GET", "/plain")
            #expect(unknownMethod.status == 404)
            let unknownParameter = try await Self.send(proxy, "GET", "/v1/shelves/1/books/2?nope=1")
            #expect(unknownParameter.status == 400)
            #expect(upstream.calls.isEmpty)
        }
    }

    @Test("the route is chosen on the gRPC path unless match_incoming_request_route")
    func routeSelection() async throws {
        let routes = "- match: {prefix: \"/v1/\"}\n  direct_response: {status: 418}\n"
        try await Self.with(routes: routes) { proxy, upstream in
            let reply = try await Self.send(proxy, "GET", "/v1/shelves/1/books/2")
            #expect(reply.status == 200)
            #expect(upstream.calls.count == 1)
        }
        try await Self.with("match_incoming_request_route: true", routes: routes) { proxy, upstream in
            let reply = try await Self.send(proxy, "GET", "/v1/shelves/1/books/2")
            #expect(reply.status == 418)
            #expect(upstream.calls.isEmpty)
        }
    }

    @Test("max_request_body_size refuses a larger JSON body with 413")
    func requestLimit() async throws {
        try await Self.with("max_request_body_size: 16") { proxy, upstream in
            let reply = try await Self.send(proxy, "POST", "/v1/books:create", json: #"{"requestId":"0123456789abcdef"}"#)
            #expect(reply.status == 413)
            #expect(upstream.calls.isEmpty)
        }
    }
}
