import FerryTestKit
import Foundation
import Testing

@testable import FerryGRPC

/// The same requests through Envoy 1.40's grpc_json_transcoder and through FerryGRPC, with the
/// same descriptor set: what Envoy sends upstream must decode to what `requestMessage` builds,
/// Envoy's 400s must be errors here, its pass-throughs no match (or an unknown query
/// parameter), and its JSON for an echoed message must be byte for byte what
/// `responseJSON` prints.
@Suite("FerryGRPC against Envoy's transcoder", .serialized)
struct EnvoyDifferentialTests {
    /// Envoy refuses `response_body` on non-HttpBody fields, so both sides get the schema without it.
    static func descriptorSet(in directory: URL) throws -> (path: String, bytes: [UInt8]) {
        let schema = try String(contentsOfFile: Protoc.fixtures + "/" + Protoc.schema, encoding: .utf8)
            .replacingOccurrences(of: #" response_body: "books""#, with: "")
        try schema.write(to: directory.appendingPathComponent(Protoc.schema), atomically: true, encoding: .utf8)
        let path = directory.appendingPathComponent("api.pb").path
        _ = try Protoc.run(["protoc", "-I", directory.path, "-I", ".", "-I", "/usr/include", "--include_imports",
                            "--descriptor_set_out=\(path)", directory.appendingPathComponent(Protoc.schema).path])
        return (path, Array(try Data(contentsOf: URL(fileURLWithPath: path))))
    }

    static func envoyYAML(descriptor: String, upstreamPort: Int, printOptions: String, extra: String) -> String {
        TestConfig.bootstrap(routes: "- match: {prefix: \"/\"}\n  route: {cluster: up}", clusters: [("up", [upstreamPort])],
                             httpFilters: """
            - name: envoy.filters.http.grpc_json_transcoder
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder
                proto_descriptor: \(descriptor)
                services: [ferry.test.Bookstore]
                print_options: {\(printOptions)}
                \(extra)
            """)
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    static func send(port: Int, _ method: String, _ target: String, _ body: String) throws -> Reply {
        var arguments = ["curl", "-s", "-i", "--max-time", "10", "-X", method, "http://127.0.0.1:\(port)\(target)",
                         "-H", "content-type: application/json"]
        if !body.isEmpty { arguments += ["--data-binary", "@-"] }
        let raw = try Protoc.run(arguments, stdin: Array(body.utf8))
        guard let split = raw.firstRange(of: Array("\r\n\r\n".utf8)) else { throw Protoc.Failure(description: "no response head") }
        let head = String(decoding: raw[..<split.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let status = Int(head.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        return Reply(status: status, headers: headers, body: Array(raw[split.upperBound...]))
    }

    /// Runs Envoy (with `printOptions`) and the upstream around `body`.
    static func withEnvoy(printOptions: String = "", stream: [[UInt8]] = [], autoMapping: Bool = false,
                          _ body: @escaping (_ port: Int, _ config: TranscoderConfig) async throws -> Void) async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ferry-grpc-diff-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (path, bytes) = try descriptorSet(in: directory)
        var options = TranscoderOptions()
        options.printOptions = parse(printOptions)
        options.autoMapping = autoMapping
        let config = try TranscoderConfig(descriptorSet: bytes, services: ["ferry.test.Bookstore"], options: options)
        let python = try #require(ChildProcess.which("python3"))
        let hex = stream.map { $0.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        try await ChildProcess.with(python, [Protoc.fixtures + "/grpc_upstream.py"] + hex) { upstream in
            var upstreamPort = 0
            for _ in 0..<200 where upstreamPort == 0 {
                upstreamPort = Int(upstream.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                if upstreamPort == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            try #require(upstreamPort != 0, "upstream did not start: \(upstream.stderr)")
            let yaml = envoyYAML(descriptor: path, upstreamPort: upstreamPort, printOptions: printOptions,
                                 extra: autoMapping ? "auto_mapping: true" : "")
            try await EnvoyProcess.with(yaml: yaml) { envoy in try await body(envoy.port(of: "main"), config) }
        }
    }

    static func parse(_ printOptions: String) -> JSONPrintOptions {
        var o = JSONPrintOptions()
        o.addWhitespace = printOptions.contains("add_whitespace: true")
        o.alwaysPrintPrimitiveFields = printOptions.contains("always_print_primitive_fields: true")
        o.alwaysPrintEnumsAsInts = printOptions.contains("always_print_enums_as_ints: true")
        o.preserveProtoFieldNames = printOptions.contains("preserve_proto_field_names: true")
        o.streamNewlineDelimited = printOptions.contains("stream_newline_delimited: true")
        o.streamSSEStyleDelimited = printOptions.contains("stream_sse_style_delimited: true")
        return o
    }

    static let requests: [(String, String, String)] = [
        ("GET", "/v1/shelves/5/books/6?name=a%20b+c&ids=1&ids=2", ""),
        ("GET", "/v1/shelves/5/books/6/", ""),
        ("GET", "/v1/files/a%2Fb/c%20d%3F", ""),
        ("GET", "/v1/publishers/p%2Fq/books/y%20z", ""),
        ("GET", "/v2/books/9:peek", ""),
        ("GET", "/v1/shelves/5/books/6?filter.pages=300&filter.published=2001-01-01T00:00:00Z&color=1&filter.color=GREEN", ""),
        ("GET", "/v1/shelves/5/books/6?include_reviews=yes&book=7&flag&=x&filter.tags=a&filter.tags=b&name=1&name=2", ""),
        ("GET", "/v1/shelves/5/books/6?include_reviews=maybe", ""),
        ("GET", "/v1/shelves/5/books/6?filter=1", ""),
        ("GET", "/v1/shelves/5/books/6?unknown=1", ""),
        ("GET", "/v1/shelves/5/books/6?filter.nope=1", ""),
        ("GET", "/v1/files/x/latest", ""),
        ("GET", "/v1/files/x/latest/y", ""),
        ("GET", "/v1/files", ""),
        ("GET", "/nothing/here", ""),
        ("GET", "/v1/shelves/7/books:unregistered", ""),
        ("GET", "/v1/files/a/b:peek", ""),
        ("GET", "/v1/shelves/5/%62ooks/6", ""),
        ("GET", "/v1/shelves/5/books/6?color=red", ""),
        ("GET", "/v1/shelves/5/books/6?shelf=8&book=9", ""),
        ("GET", "/v1/shelves/5/books/6?ids=1,2", ""),
        ("GET", "/v1/shelves/5/books/6?filter.published=2001-01-01T00:00:00%2B01:00&name=%E2%82%AC%2B", ""),
        ("GET", "/v1/shelves/5/books/6?filter.pages=x", ""),
        ("GET", "/v1/shelves/5/books/6?filter.price=NaN&filter.cover=AP8", ""),
        ("DELETE", "/v1/shelves/3/books/anything", ""),
        ("PATCH", "/v1/shelves/3/books/4", #"{"tags":["a"],"id":"2"}"#),
        ("POST", "/v1/shelves/3/books?request_id=r", #"{"id":"4","name":"N","bogus":{"x":1}}"#),
        ("PUT", "/v1/shelves/3/books/9", #"{"id":"4","author":"A"}"#),
        ("PUT", "/v1/shelves/3/books/9", #"{"author":"A"}"#),
        ("POST", "/v1/books:create", ""),
        ("POST", "/v1/books:create", "null"),
        ("POST", "/v1/books:create", #"{"shelf":"x"}"#),
        ("POST", "/v1/books:create", #"{"shelf":1,"shelf":2,"book":{"price":1.5,"cover":"AP8="}}"#),
    ]

    @Test("requests: what Envoy sends upstream is what requestMessage builds")
    func requestsMatchEnvoy() async throws {
        try await Self.withEnvoy { port, config in
            for (method, target, body) in Self.requests {
                let envoy = try Self.send(port: port, method, target, body)
                let path = String(target.prefix { $0 != "?" })
                let query = target.contains("?") ? String(target[target.index(after: target.firstIndex(of: "?")!)...]) : ""
                let match = config.match(method: method, path: path)
                let label = "\(method) \(target) \(body)"
                let upstreamPath = envoy.headers["x-upstream-path"]
                if envoy.status == 400 {
                    #expect(match != nil, "\(label): Envoy answered 400, so it matched")
                    if let match {
                        let error = #expect(throws: TranscodingError.self, "\(label)") {
                            try config.requestMessage(match, query: query, body: Array(body.utf8))
                        }
                        if case .unknownQueryParameter? = error { Issue.record("\(label): Envoy rejects what passes through here") }
                    }
                } else if upstreamPath == target {
                    // Envoy passed the request through untranscoded.
                    if let match {
                        #expect(try !config.unknownQueryParameters(match, query: query).isEmpty, "\(label): passed through by Envoy")
                    }
                } else {
                    #expect(envoy.status == 200, "\(label): \(envoy.status) \(envoy.body.text)")
                    let m = try #require(match, "\(label): Envoy transcoded to \(upstreamPath ?? "-")")
                    #expect(upstreamPath == m.binding.method.grpcPath, "\(label)")
                    let ours = try config.requestMessage(m, query: query, body: Array(body.utf8))
                    let theirs = Array(envoy.body.dropFirst(GRPCFrame.headerSize))
                    #expect(try Protoc.decode(m.binding.method.inputType, ours) == Protoc.decode(m.binding.method.inputType, theirs),
                            "\(label)")
                }
            }
        }
    }

    static let echoBodies: [String] = [
        #"{"scalars":{"fDouble":1e21,"fFloat":0.1,"fInt64":"5","fEnum":7,"fBytes":"AP8=","fString":"a\u0001<>&\u2028é"},"repeated":{"rDouble":[1e-05,100,0.0001],"rFloat":[1e-10,16777216,0.3333333333,3.4028235e38]},"intMap":{"10":"a","-2":"b"},"strMap":{"b":1,"B":2,"a":0},"optInt":0,"choiceNumber":0,"timestamp":"2001-01-01T00:00:00.120Z","duration":"-0.5s","fieldMask":"a.fooBar,b","struct":{"z":1,"a":[null,true,{"q":"r"}]},"value":1.5,"any":{"@type":"type.googleapis.com/google.protobuf.Duration","value":"2s"},"anys":[{"@type":"type.googleapis.com/ferry.test.Book","id":"3","color":"BLUE"}],"wInt64":"7","wBool":false,"empty":{},"nullValue":null}"#,
        #"{"scalars":{"fString":"\u007f\u2029\u00ad\u0600'=/\\\"\ud83d\ude00\u200b\ufeff\u0080\u009f\u001f\b\f\n\r\t","fDouble":123456789012345678,"fUint64":"18446744073709551615","fSint64":"-9223372036854775808","fFixed32":4294967295}}"#,
        #"{"repeated":{"rInt64":["-1","2"],"rBool":[true,false],"rEnum":["RED",5],"rBytes":["","_-8"],"rMessage":[{},{"fInt32":-1}]},"boolMap":{"true":{"id":1},"false":{}},"enumMap":{"4":"GREEN"},"inner":{"deeper":{}}}"#,
        #"{"choiceInner":{"tags":[]},"optString":"","renamed":"x","wDouble":0,"wString":"","wBytes":"","listValue":[],"valueMap":{"n":null},"values":[1,"2",false]}"#,
        #"{"child":{"child":{"scalars":{"fBool":true}}},"timestamp":"1969-12-31T23:59:59.999999999Z","duration":"315576000000s"}"#,
        #"{}"#,
    ]

    @Test("responses: Envoy's JSON for a message is byte for byte what responseJSON prints", arguments: [
        "",
        "add_whitespace: true, always_print_primitive_fields: true",
        "always_print_enums_as_ints: true, preserve_proto_field_names: true",
    ])
    func responsesMatchEnvoy(printOptions: String) async throws {
        try await Self.withEnvoy(printOptions: printOptions) { port, config in
            let match = try #require(config.match(method: "POST", path: "/v1/kitchen"))
            for body in Self.echoBodies {
                let envoy = try Self.send(port: port, "POST", "/v1/kitchen", body)
                #expect(envoy.status == 200, "\(body): \(envoy.body.text)")
                let message = try config.requestMessage(match, query: "", body: Array(body.utf8))
                let ours = try config.responseJSON(message: message, binding: match.binding)
                #expect(ours.text == envoy.body.text, "\(body)")
            }
        }
    }

    @Test("server streams: Envoy's bytes are JSONStreamWriter's", arguments: [
        "", "add_whitespace: true", "stream_newline_delimited: true", "stream_sse_style_delimited: true",
        "add_whitespace: true, stream_newline_delimited: true",
    ])
    func streamsMatchEnvoy(printOptions: String) async throws {
        let books = try ["id: 1 name: \"n\" color: RED", "id: 2", ""].map { try Protoc.encode("ferry.test.Book", $0) }
        try await Self.withEnvoy(printOptions: printOptions, stream: books) { port, config in
            let envoy = try Self.send(port: port, "GET", "/v1/shelves/7/books:stream", "")
            let match = try #require(config.match(method: "GET", path: "/v1/shelves/7/books:stream"))
            var writer = JSONStreamWriter(options: config.options.printOptions)
            var ours: [UInt8] = []
            for book in books { ours += writer.next(try config.responseJSON(message: book, binding: match.binding)) }
            ours += writer.finish()
            #expect(ours.text == envoy.body.text)
        }
    }

    @Test("client streams: the frames Envoy sends are requestMessages' (auto_mapping)")
    func clientStreamsMatchEnvoy() async throws {
        try await Self.withEnvoy(autoMapping: true) { port, config in
            let path = "/ferry.test.Bookstore/UploadBooks"
            let match = try #require(config.match(method: "POST", path: path))
            for (query, body) in [("name=q", #"[{"id":"1"},{"id":"2","bogus":0}]"#), ("", "[]"), ("", #"{"id":"1"}"#), ("", ""),
                                  ("", #"[{"tags":["a"]},{"id":"x"}]"#)] {
                let envoy = try Self.send(port: port, "POST", query.isEmpty ? path : path + "?" + query, body)
                let label = "\(query) \(body)"
                if envoy.status == 400 {
                    #expect(throws: TranscodingError.self, "\(label)") { try config.requestMessages(match, query: query, body: Array(body.utf8)) }
                    continue
                }
                var decoder = GRPCFrameDecoder()
                decoder.append(envoy.body)
                var theirs: [String] = []
                while let m = try decoder.next() { theirs.append(try Protoc.decode("ferry.test.Book", m)) }
                let ours = try config.requestMessages(match, query: query, body: Array(body.utf8)).map { try Protoc.decode("ferry.test.Book", $0) }
                #expect(ours == theirs, "\(label)")
            }
        }
    }
}
