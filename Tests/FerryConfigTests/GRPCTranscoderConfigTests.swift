@testable import FerryConfig
import FerryGRPC
import Foundation
import Testing

/// `envoy.filters.http.grpc_json_transcoder`: Envoy's fields and defaults, the descriptor set read
/// and checked at load time, and what Ferry lacks refused by name.
@Suite("gRPC-JSON transcoder config")
struct GRPCTranscoderConfigTests {
    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"

    /// The descriptor set of FerryGRPCTests' fixture schema, made by the real `protoc` once per
    /// run into the package's `.build` (one file, replaced each run: nothing left in /tmp).
    static let descriptor: Result<String, Error> = Result {
        let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let fixtures = tests.appendingPathComponent("FerryGRPCTests/Fixtures")
        let directory = tests.deletingLastPathComponent().appendingPathComponent(".build/test-fixtures")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let path = directory.appendingPathComponent("kitchen-config.pb").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["protoc", "-I", ".", "-I", "/usr/include", "--include_imports", "--descriptor_set_out=\(path)", "kitchen.proto"]
        process.currentDirectoryURL = fixtures
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return path
    }

    static func yaml(_ fields: String, descriptor: String? = nil) throws -> String {
        let source = try descriptor ?? "proto_descriptor: \(Self.descriptor.get())"
        return Fixture.bootstrap(httpFilters: """
            - name: envoy.filters.http.grpc_json_transcoder
              typed_config:
                "@type": type.googleapis.com/\(GRPCJSONTranscoderConfig.messageName)
                \(source)
                \(fields)
            """ + "\n" + Fixture.router)
    }

    static func config(_ fields: String) throws -> GRPCJSONTranscoderConfig? {
        let filter = Fixture.load(try yaml(fields))?.listeners.first?.httpConnectionManager?.httpFilters.first
        guard case .grpcJSONTranscoder(let config)? = filter?.kind else { return nil }
        return config
    }

    @Test("the fields map to the transcoder's options, with Envoy's defaults")
    func fields() throws {
        let plain = try #require(try Self.config("services: [ferry.test.Bookstore]"))
        #expect(plain.transcoder.options == TranscoderOptions())
        #expect(!plain.matchIncomingRequestRoute && !plain.convertGRPCStatus && !plain.rejectUnknownMethod)
        #expect(plain.maxRequestBodySize == 1 << 20 && plain.maxResponseBodySize == 1 << 20)
        #expect(plain.transcoder.match(method: "GET", path: "/v1/shelves/1/books/2")?.binding.method.name == "GetBook")
        let full = try #require(try Self.config("""
            services: [ferry.test.Bookstore]
                print_options: {add_whitespace: true, always_print_primitive_fields: true, always_print_enums_as_ints: true, preserve_proto_field_names: true, stream_newline_delimited: true}
                match_incoming_request_route: true
                ignored_query_parameters: [api_key]
                auto_mapping: true
                ignore_unknown_query_parameters: true
                convert_grpc_status: true
                url_unescape_spec: ALL_CHARACTERS
                query_param_unescape_plus: true
                request_validation_options: {reject_unknown_method: true, reject_unknown_query_parameters: true}
                max_request_body_size: 100
                max_response_body_size: 200
            """))
        var options = TranscoderOptions()
        options.printOptions = JSONPrintOptions(addWhitespace: true, alwaysPrintPrimitiveFields: true, alwaysPrintEnumsAsInts: true,
                                                preserveProtoFieldNames: true)
        options.printOptions.streamNewlineDelimited = true
        options.ignoredQueryParameters = ["api_key"]
        options.autoMapping = true
        options.ignoreUnknownQueryParameters = true
        options.urlUnescapeSpec = .allCharacters
        options.queryParamUnescapePlus = true
        #expect(full.transcoder.options == options)
        #expect(full.matchIncomingRequestRoute && full.convertGRPCStatus && full.rejectUnknownMethod && full.rejectUnknownQueryParameters)
        #expect(full.maxRequestBodySize == 100 && full.maxResponseBodySize == 200)
    }

    @Test("a descriptor file that cannot be read is located at proto_descriptor")
    func unreadableDescriptor() throws {
        let yaml = try Self.yaml("services: [ferry.test.Bookstore]", descriptor: "proto_descriptor: /nonexistent/api.pb")
        Fixture.expectOneError(yaml, at: "/nonexistent/api.pb", path: "\(Self.filterPath).proto_descriptor",
                               message: "cannot read file \"/nonexistent/api.pb\"")
    }

    @Test("bytes that are no descriptor set, or bad base64, are located at proto_descriptor_bin")
    func badDescriptorBytes() throws {
        let garbage = try Self.yaml("services: [ferry.test.Bookstore]", descriptor: "proto_descriptor_bin: AAECAw==")
        let error = Fixture.expectOneError(garbage, at: "AAECAw==", path: "\(Self.filterPath).proto_descriptor_bin", message: "descriptor set:")
        #expect(error?.fix?.contains("protoc --include_imports") == true)
        let notBase64 = try Self.yaml("services: [ferry.test.Bookstore]", descriptor: "proto_descriptor_bin: \"***\"")
        Fixture.expectOneError(notBase64, at: "\"***\"", path: "\(Self.filterPath).proto_descriptor_bin", message: "not valid base64")
    }

    @Test("a service the descriptor set lacks is located at services and lists the known ones")
    func unknownService() throws {
        Fixture.expectOneError(try Self.yaml("services: [ferry.test.Nope]"), at: "ferry.test.Nope", path: "\(Self.filterPath).services[0]",
                               message: "service ferry.test.Nope is not in the descriptor set (it has: ferry.test.Bookstore)")
        Fixture.expectOneError(try Self.yaml(""), at: "\"@type\"", after: "grpc_json_transcoder", path: "\(Self.filterPath).services", message: "no services to transcode")
    }

    @Test("both descriptor sources at once, or neither, is an error")
    func descriptorOneOf() throws {
        let both = try Self.yaml("services: [ferry.test.Bookstore]\n    proto_descriptor_bin: AAEC")
        Fixture.expectOneError(both, at: "proto_descriptor_bin", path: "\(Self.filterPath).proto_descriptor_bin",
                               message: "only one of proto_descriptor, proto_descriptor_bin may be set")
        let neither = try Self.yaml("services: [ferry.test.Bookstore]", descriptor: "")
        #expect(Fixture.errors(neither).contains { $0.message.contains("proto_descriptor") })
    }

    @Test("options Ferry lacks are refused by name when set, accepted at their default")
    func unsupported() throws {
        for field in ["case_insensitive_enum_parsing", "match_unregistered_custom_verb", "capture_unknown_query_parameters"] {
            Fixture.expectOneError(try Self.yaml("services: [ferry.test.Bookstore]\n    \(field): true"), at: field,
                                   path: "\(Self.filterPath).\(field)", message: "GrpcJsonTranscoder.\(field) is not supported yet by Ferry")
            #expect(try Self.config("services: [ferry.test.Bookstore]\n    \(field): false") != nil)
        }
        Fixture.expectOneError(try Self.yaml("services: [ferry.test.Bookstore]\n    request_validation_options: {reject_binding_body_field_collisions: true}"),
                               at: "reject_binding_body_field_collisions",
                               path: "\(Self.filterPath).request_validation_options.reject_binding_body_field_collisions",
                               message: "RequestValidationOptions.reject_binding_body_field_collisions is not supported yet by Ferry")
        Fixture.expectOneError(try Self.yaml("services: [ferry.test.Bookstore]\n    url_unescape_spec: NONE"), at: "NONE",
                               path: "\(Self.filterPath).url_unescape_spec", message: "unknown value \"NONE\"")
    }

    @Test("a route may replace the whole config through typed_per_filter_config")
    func perRoute() throws {
        let path = try Self.descriptor.get()
        let yaml = Fixture.bootstrap(routes: """
            - match: {prefix: "/"}
              route: {cluster: backend}
              typed_per_filter_config:
                envoy.filters.http.grpc_json_transcoder:
                  "@type": type.googleapis.com/\(GRPCJSONTranscoderConfig.messageName)
                  proto_descriptor: \(path)
                  services: [ferry.test.Bookstore]
                  convert_grpc_status: true
            """, httpFilters: """
            - name: envoy.filters.http.grpc_json_transcoder
              typed_config:
                "@type": type.googleapis.com/\(GRPCJSONTranscoderConfig.messageName)
                proto_descriptor: \(path)
                services: [ferry.test.Bookstore]
            """ + "\n" + Fixture.router)
        let route = try #require(Fixture.firstRoute(Fixture.load(yaml)))
        guard case .grpcJSONTranscoder(let config)? = route.typedPerFilterConfig["envoy.filters.http.grpc_json_transcoder"]?.kind else {
            Issue.record("expected a per-route transcoder config")
            return
        }
        #expect(config.convertGRPCStatus)
    }
}
