/// The transcoding tables for `envoy.filters.http.grpc_json_transcoder`, built once per
/// config from a `FileDescriptorSet` and the served services, then used per request:
///
///     let config = try TranscoderConfig(descriptorSet: bytes, services: ["bookstore.Bookstore"])
///     // Request headers:
///     guard let match = config.match(method: "GET", path: "/v1/shelves/1/books") else { /* pass through */ }
///     if try !config.unknownQueryParameters(match, query: query).isEmpty { /* pass through, as Envoy */ }
///     // Whole body:
///     let grpcRequest = try config.requestMessage(match, query: query, body: body)
///     // ... send GRPCFrame.encode(grpcRequest) to match.binding.method.grpcPath, then for each
///     // message out of a GRPCFrameDecoder:
///     let json = try config.responseJSON(message: grpcResponse, binding: match.binding)
///
/// Building checks everything that can be checked without a request: every service exists,
/// every path template parses, every path variable, `body` and `response_body` names a field,
/// no two bindings have the same pattern. Errors are `TranscodingError.invalidDescriptor`.
/// Per-request errors are `.malformedJSON`, `.invalidJSON`, `.invalidParameter` or
/// `.unknownQueryParameter`, with a message meant for the body of a 400 response. The value is
/// immutable and `Sendable`: build it once per config generation and share it between loops.
public struct TranscoderConfig: Sendable {
    public let pool: DescriptorPool
    public let options: TranscoderOptions
    public let bindings: [HTTPBinding]
    let matcher: PathMatcher
    let methodsByPath: [String: MethodDescriptor]

    public init(descriptorSet: [UInt8], services: [String], options: TranscoderOptions = TranscoderOptions()) throws {
        try self.init(pool: DescriptorPool(fileDescriptorSet: descriptorSet), services: services, options: options)
    }

    public init(pool: DescriptorPool, services: [String], options: TranscoderOptions = TranscoderOptions()) throws {
        self.pool = pool
        self.options = options
        var bindings: [HTTPBinding] = []
        var byPath: [String: MethodDescriptor] = [:]
        for name in services {
            guard let service = pool.services[name] else {
                let known = pool.services.keys.sorted().joined(separator: ", ")
                throw TranscodingError.invalidDescriptor("service \(name) is not in the descriptor set (it has: \(known.isEmpty ? "no services" : known))")
            }
            for method in service.methods {
                byPath[method.grpcPath] = method
                var rules: [HttpRule] = []
                if let rule = method.httpRule {
                    rules = [rule] + rule.additionalBindings
                } else if options.autoMapping {
                    rules = [HttpRule(method: "POST", path: method.grpcPath, body: "*")]
                }
                for rule in rules { bindings.append(try Self.binding(rule, method, pool)) }
            }
        }
        self.bindings = bindings
        self.matcher = try PathMatcher(bindings: bindings, unescapeSpec: options.urlUnescapeSpec)
        self.methodsByPath = byPath
    }

    private static func binding(_ rule: HttpRule, _ method: MethodDescriptor, _ pool: DescriptorPool) throws -> HTTPBinding {
        let what = "\(method.serviceName).\(method.name)"
        guard !rule.method.isEmpty, !rule.path.isEmpty else {
            throw TranscodingError.invalidDescriptor("the google.api.http rule of \(what) has no HTTP method and path")
        }
        let template = try PathTemplate(rule.path)
        let input = try pool.message(method.inputType)
        let output = try pool.message(method.outputType)
        let bodyType = input.field(named: rule.body).map(\.typeName)
        for type in [input.fullName, output.fullName, bodyType ?? ""] where type == "google.api.HttpBody" {
            throw TranscodingError.invalidDescriptor("\(what) uses google.api.HttpBody, which is not supported yet by Ferry")
        }
        let resolver = FieldPathResolver(pool: pool)
        for v in template.variables {
            _ = try resolver.leaf(v.fieldPath, in: input, what: "path variable {\(v.fieldPath.joined(separator: "."))} of \(what)")
        }
        if rule.body != "" && rule.body != "*" && input.field(named: rule.body) == nil {
            throw TranscodingError.invalidDescriptor("body \"\(rule.body)\" of \(what) is not a field of \(input.fullName)")
        }
        if rule.responseBody != "" && output.field(named: rule.responseBody) == nil {
            throw TranscodingError.invalidDescriptor("response_body \"\(rule.responseBody)\" of \(what) is not a field of \(output.fullName)")
        }
        return HTTPBinding(method: method, httpMethod: rule.method, template: template, body: rule.body,
                           responseBody: rule.responseBody)
    }

    /// The binding for an HTTP request, or nil when no rule matches (Envoy then passes the
    /// request on untouched). `path` may still carry its query string; it is ignored here.
    public func match(method: String, path: String) -> HTTPMatch? {
        matcher.match(method: method, path: path)
    }

    /// The method served at a gRPC path (`/pkg.Service/Method`), for gRPC requests that pass
    /// through and for their responses.
    public func method(grpcPath: String) -> MethodDescriptor? { methodsByPath[grpcPath] }

    /// The request message in wire format: the path variables and the query parameters
    /// (`a.b=1&r=1&r=2`: nested and repeated fields), then the JSON body (as the binding's
    /// `body` says) merged over them, so that as in Envoy a field set by both keeps the body's
    /// value. An empty body is an empty message. Unknown JSON fields are skipped, as Envoy does.
    /// A query parameter naming no field throws `.unknownQueryParameter` (unless ignored).
    public func requestMessage(_ match: HTTPMatch, query: String, body: [UInt8]) throws -> [UInt8] {
        let bound = try boundMessage(match, query: query)
        // Without a body rule the body is not read.
        guard !body.isEmpty && !match.binding.body.isEmpty else { return bound }
        // Concatenated messages are merged by every protobuf parser: the body's singular
        // fields win, repeated fields append, nested messages merge.
        return bound + (try bodyMessage(try JSONParser.parse(body), match.binding))
    }

    /// The messages of a client-streaming request, whose body is a JSON array with one element
    /// per message (each read as `requestMessage` reads a body). As in Envoy, the path
    /// variables and query parameters go into the first message only, and a body that is not
    /// an array (an empty one included) is an error.
    public func requestMessages(_ match: HTTPMatch, query: String, body: [UInt8]) throws -> [[UInt8]] {
        guard !body.isEmpty, case .array(let elements) = try JSONParser.parse(body) else {
            throw TranscodingError.invalidJSON("the body of client-streaming \(match.binding.method.grpcPath) must be a JSON array of messages")
        }
        let bound = try boundMessage(match, query: query)
        return try elements.enumerated().map { i, element in
            (i == 0 ? bound : []) + (try bodyMessage(element, match.binding))
        }
    }

    /// The request fields set by the path variables and query parameters, in wire format.
    private func boundMessage(_ match: HTTPMatch, query: String) throws -> [UInt8] {
        let input = try pool.message(match.binding.method.inputType)
        if let name = match.malformedVariables.first {
            throw TranscodingError.invalidParameter("path variable {\(name)} is not UTF-8 after percent-decoding")
        }
        var bound = DynamicMessage(input)
        let resolver = FieldPathResolver(pool: pool)
        for v in match.variables {
            try resolver.assign(v.value, to: v.fieldPath, in: &bound, what: "path variable {\(v.fieldPath.joined(separator: "."))}")
        }
        for (name, value, fieldPath) in queryParameters(query) {
            guard resolver.resolves(fieldPath, in: input) else {
                if options.ignoreUnknownQueryParameters { continue }
                throw TranscodingError.unknownQueryParameter(
                    "query parameter \"\(name)\": \(input.fullName) has no field \(fieldPath.joined(separator: "."))")
            }
            guard let value else {
                throw TranscodingError.invalidParameter("query parameter \"\(name)\" is not UTF-8 after percent-decoding")
            }
            try resolver.assign(value, to: fieldPath, in: &bound, what: "query parameter \"\(name)\"")
        }
        return bound.encoded()
    }

    /// The request fields a JSON body sets, as the binding's `body` says, in wire format.
    private func bodyMessage(_ json: JSONValue, _ binding: HTTPBinding) throws -> [UInt8] {
        let input = try pool.message(binding.method.inputType)
        let converter = JSONToMessage(pool: pool, ignoreUnknownFields: true)
        if binding.body == "*" {
            return try converter.message(json, input, path: "").encoded()
        }
        guard let field = input.field(named: binding.body) else { return [] }
        var message = DynamicMessage(input)
        var oneofs: [Int: String] = [:]
        try converter.merge(json, into: &message, field: field, path: field.name, oneofSeen: &oneofs)
        return message.encoded()
    }

    /// Query parameters that name no field of the binding's request message (those in
    /// `ignored_query_parameters` left out; none with `ignore_unknown_query_parameters`).
    /// Envoy passes such a request through untranscoded unless it rejects them.
    public func unknownQueryParameters(_ match: HTTPMatch, query: String) throws -> [String] {
        if options.ignoreUnknownQueryParameters { return [] }
        let input = try pool.message(match.binding.method.inputType)
        let resolver = FieldPathResolver(pool: pool)
        return queryParameters(query).filter { !resolver.resolves($0.fieldPath, in: input) }.map(\.name)
    }

    /// Decoded query parameters but the ignored ones; a name or value that is not UTF-8 after
    /// decoding has a nil value (and a name with U+FFFD where the bad bytes were).
    private func queryParameters(_ query: String) -> [(name: String, value: String?, fieldPath: [String])] {
        var query = Substring(query)
        if query.first == "?" { query = query.dropFirst() }
        return URLUnescape.queryParameters(query, plusAsSpace: options.queryParamUnescapePlus).compactMap { name, value in
            guard let name else { return ("\u{FFFD}", nil, []) }
            if options.ignoredQueryParameters.contains(name) { return nil }
            return (name, value, name.split(separator: ".", omittingEmptySubsequences: false).map(String.init))
        }
    }

    /// The JSON of a response message, or of its `response_body` field.
    public func responseJSON(message: [UInt8], binding: HTTPBinding) throws -> [UInt8] {
        let output = try pool.message(binding.method.outputType)
        let decoded = try DynamicMessage(decoding: message, as: output, pool: pool)
        let printer = MessageToJSON(pool: pool, options: options.printOptions)
        let json: JSONValue
        if !binding.responseBody.isEmpty, let field = output.field(named: binding.responseBody) {
            json = try printer.fieldJSONOrDefault(decoded, field)
        } else {
            json = try printer.json(decoded)
        }
        return JSONWriter.serialize(json, whitespace: options.printOptions.addWhitespace)
    }

    /// Any message of the descriptor set as JSON (e.g. each message of a server stream).
    public func json(message: [UInt8], type: String) throws -> [UInt8] {
        let decoded = try DynamicMessage(decoding: message, as: try pool.message(type), pool: pool)
        let json = try MessageToJSON(pool: pool, options: options.printOptions).json(decoded)
        return JSONWriter.serialize(json, whitespace: options.printOptions.addWhitespace)
    }

    /// Any message of the descriptor set from JSON, in wire format (e.g. each message of a
    /// client stream). Unknown fields are errors with `strict`, else skipped as Envoy does.
    public func message(json: [UInt8], type: String, strict: Bool = false) throws -> [UInt8] {
        let type = try pool.message(type)
        let converter = JSONToMessage(pool: pool, ignoreUnknownFields: !strict)
        return try converter.message(try JSONParser.parse(json), type, path: "").encoded()
    }
}
