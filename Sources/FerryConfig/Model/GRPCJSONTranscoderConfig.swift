import FerryGRPC
import Foundation

/// `envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder`: REST/JSON
/// requests matching a `google.api.http` rule become gRPC calls, and their gRPC responses JSON
/// (docs/grpc-transcoding.md). The descriptor set is read and checked while decoding, so a file
/// that cannot be read, a set that does not parse or a service it lacks is a located error.
public struct GRPCJSONTranscoderConfig: Sendable {
    /// The descriptor set, services and the options FerryGRPC applies per request.
    public var transcoder: TranscoderConfig
    /// `match_incoming_request_route`: the route is the one the HTTP/JSON request matched;
    /// by default (false) it is chosen again on the gRPC path `/pkg.Service/Method`.
    public var matchIncomingRequestRoute = false
    /// `convert_grpc_status`: an error without a response body gets the `google.rpc.Status`
    /// JSON (from `grpc-status-details-bin`, else from `grpc-status` and `grpc-message`).
    public var convertGRPCStatus = false
    /// `request_validation_options.reject_unknown_method`: a request no rule matches gets 404
    /// instead of passing through.
    public var rejectUnknownMethod = false
    /// `request_validation_options.reject_unknown_query_parameters`: a query parameter naming
    /// no field gets 400 instead of passing the request through untranscoded.
    public var rejectUnknownQueryParameters = false
    /// `max_request_body_size`: the JSON body limit (413 above it). Envoy's default is the
    /// connection's buffer limit, 1 MiB.
    public var maxRequestBodySize = 1 << 20
    /// `max_response_body_size`: the limit on the gRPC response buffered for one JSON answer.
    public var maxResponseBodySize = 1 << 20

    public init(transcoder: TranscoderConfig) { self.transcoder = transcoder }

    public static let messageName = "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder"

    static func decode(_ r: ObjectReader) -> HttpFilter.Kind? {
        defer { r.finish() }
        let options = decodeOptions(r)
        let flags = (matchIncoming: r.bool("match_incoming_request_route") ?? false, convert: r.bool("convert_grpc_status") ?? false)
        let validation = decodeValidation(r)
        let limits = (request: r.uint32("max_request_body_size", in: 1...Int64(UInt32.max)),
                      response: r.uint32("max_response_body_size", in: 1...Int64(UInt32.max)))
        for key in ["case_insensitive_enum_parsing", "match_unregistered_custom_verb", "capture_unknown_query_parameters"] {
            rejectTrue(r, key)
        }
        let services = r.strings("services")
        guard let descriptor = descriptorSet(r) else { return nil }
        if services.isEmpty {
            r.diagnostics.error(r.node.location, r.join("services"), "no services to transcode",
                                fix: "list the fully qualified gRPC services, e.g. `services: [bookstore.Bookstore]`")
            return nil
        }
        guard let options else { return nil }
        let transcoder: TranscoderConfig
        do {
            transcoder = try TranscoderConfig(descriptorSet: descriptor.bytes, services: services.map(\.value), options: options)
        } catch {
            let fix = descriptor.key == "proto_descriptor"
                ? "build the set with `protoc --include_imports --descriptor_set_out=\(descriptor.name) <your .proto files>` and list services it defines"
                : "encode a set built with `protoc --include_imports --descriptor_set_out` and list services it defines"
            // A service the set lacks is the services list's fault; anything else the set's.
            if "\(error)".hasPrefix("service "), let index = services.firstIndex(where: { "\(error)".hasPrefix("service \($0.value) ") }) {
                r.diagnostics.error(services[index].location, r.join("services[\(index)]"), "\(error)",
                                    fix: "name a service of the descriptor set, or rebuild the set from the .proto files that define it")
            } else {
                r.diagnostics.error(r.valueLocation(of: descriptor.key), r.join(descriptor.key), "descriptor set: \(error)", fix: fix)
            }
            return nil
        }
        var config = GRPCJSONTranscoderConfig(transcoder: transcoder)
        config.matchIncomingRequestRoute = flags.matchIncoming
        config.convertGRPCStatus = flags.convert
        config.rejectUnknownMethod = validation.unknownMethod
        config.rejectUnknownQueryParameters = validation.unknownQuery
        if let limit = limits.request { config.maxRequestBodySize = Int(limit) }
        if let limit = limits.response { config.maxResponseBodySize = Int(limit) }
        return .grpcJSONTranscoder(config)
    }

    /// `proto_descriptor` (a file) or `proto_descriptor_bin` (base64), exactly one.
    private static func descriptorSet(_ r: ObjectReader) -> (key: String, name: String, bytes: [UInt8])? {
        switch r.oneOf(["proto_descriptor", "proto_descriptor_bin"], required: true, what: "descriptor set") {
        case "proto_descriptor":
            guard let path = r.string("proto_descriptor") else { return nil }
            guard let data = FileManager.default.contents(atPath: path) else {
                r.diagnostics.error(r.valueLocation(of: "proto_descriptor"), r.join("proto_descriptor"), "cannot read file \"\(path)\"",
                                    fix: "check that the descriptor set exists and is readable by the Ferry process")
                return nil
            }
            return ("proto_descriptor", path, Array(data))
        case "proto_descriptor_bin":
            guard let text = r.string("proto_descriptor_bin") else { return nil }
            guard let data = Data(base64Encoded: text) else {
                r.diagnostics.error(r.valueLocation(of: "proto_descriptor_bin"), r.join("proto_descriptor_bin"), "not valid base64",
                                    fix: "write the descriptor set's bytes in base64, e.g. `base64 -w0 api.pb`")
                return nil
            }
            return ("proto_descriptor_bin", "api.pb", Array(data))
        default:
            return nil
        }
    }

    /// The FerryGRPC options; nil after an error.
    private static func decodeOptions(_ r: ObjectReader) -> TranscoderOptions? {
        var options = TranscoderOptions()
        if let p = r.object("print_options", "\(messageName).PrintOptions") {
            defer { p.finish() }
            options.printOptions = JSONPrintOptions(
                addWhitespace: p.bool("add_whitespace") ?? false, alwaysPrintPrimitiveFields: p.bool("always_print_primitive_fields") ?? false,
                alwaysPrintEnumsAsInts: p.bool("always_print_enums_as_ints") ?? false,
                preserveProtoFieldNames: p.bool("preserve_proto_field_names") ?? false)
            options.printOptions.streamNewlineDelimited = p.bool("stream_newline_delimited") ?? false
            options.printOptions.streamSSEStyleDelimited = p.bool("stream_sse_style_delimited") ?? false
        }
        options.ignoredQueryParameters = Set(r.strings("ignored_query_parameters").map(\.value))
        options.autoMapping = r.bool("auto_mapping") ?? false
        options.ignoreUnknownQueryParameters = r.bool("ignore_unknown_query_parameters") ?? false
        options.queryParamUnescapePlus = r.bool("query_param_unescape_plus") ?? false
        if r.has("url_unescape_spec") {
            guard let spec = r.enumeration("url_unescape_spec", UnescapeSpec.self) else { return nil }
            options.urlUnescapeSpec = spec.value
        }
        return options
    }

    private static func decodeValidation(_ r: ObjectReader) -> (unknownMethod: Bool, unknownQuery: Bool) {
        guard let v = r.object("request_validation_options", "\(messageName).RequestValidationOptions") else { return (false, false) }
        defer { v.finish() }
        rejectTrue(v, "reject_binding_body_field_collisions")
        return (v.bool("reject_unknown_method") ?? false, v.bool("reject_unknown_query_parameters") ?? false)
    }

    /// A boolean Ferry implements only as false (Envoy's default): true is refused by name.
    private static func rejectTrue(_ r: ObjectReader, _ key: String) {
        guard r.has(key), r.bool(key) == true else { return }
        r.diagnostics.error(r.location(of: key), r.join(key), "\(ObjectReader.shortName(r.message)).\(key) is not supported yet by Ferry",
                            fix: "remove it (or set it to false); see docs/grpc-transcoding.md")
    }

    /// `url_unescape_spec`.
    enum UnescapeSpec: String, ConfigEnum {
        case allCharactersExceptReserved = "ALL_CHARACTERS_EXCEPT_RESERVED"
        case allCharactersExceptSlash = "ALL_CHARACTERS_EXCEPT_SLASH"
        case allCharacters = "ALL_CHARACTERS"

        var protoNumber: Int { Self.allCases.firstIndex(of: self)! }

        var value: URLUnescapeSpec {
            switch self {
            case .allCharactersExceptReserved: .allCharactersExceptReserved
            case .allCharactersExceptSlash: .allCharactersExceptSlash
            case .allCharacters: .allCharacters
            }
        }
    }
}
