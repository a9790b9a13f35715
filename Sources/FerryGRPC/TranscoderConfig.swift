/// The transcoding tables for `envoy.filters.http.grpc_json_transcoder`, built once per
/// config from a `FileDescriptorSet` and the served services, then used per request:
///
///     let config = try TranscoderConfig(descriptorSet: bytes, services: ["bookstore.Bookstore"])
///     guard let match = config.match(method: "GET", path: "/v1/shelves/1/books") else { /* pass through */ }
///     let grpcRequest = try config.requestMessage(match, query: "page_size=10", body: [])
///     // ... call match.binding.method.grpcPath upstream, then:
///     let json = try config.responseJSON(message: grpcResponse, binding: match.binding)
///
/// Building checks everything that can be checked without a request: every service exists,
/// every path template parses, every path variable, `body` and `response_body` names a field,
/// no two bindings have the same pattern. Errors are `TranscodingError.invalidDescriptor`.
/// Per-request errors are `.malformedJSON`, `.invalidJSON` or `.invalidParameter`, with a
/// message meant for the body of a 400 response. The value is immutable and `Sendable`.
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

    /// The request message in wire format: the JSON body (as the binding's `body` says), then
    /// the path variables, then the query parameters (`a.b=1&r=1&r=2`: nested and repeated
    /// fields) set on top. An empty body is an empty message.
    public func requestMessage(_ match: HTTPMatch, query: String, body: [UInt8]) throws -> [UInt8] {
        let binding = match.binding
        let input = try pool.message(binding.method.inputType)
        var message = DynamicMessage(input)
        let converter = JSONToMessage(pool: pool)
        if !body.isEmpty && binding.body == "*" {
            message = try converter.message(try JSONParser.parse(body), input, path: "")
        } else if !body.isEmpty && !binding.body.isEmpty, let field = input.field(named: binding.body) {
            var oneofs: [Int: String] = [:]
            try converter.merge(try JSONParser.parse(body), into: &message, field: field, path: field.name, oneofSeen: &oneofs)
        }
        let resolver = FieldPathResolver(pool: pool)
        for v in match.variables {
            try resolver.assign(v.value, to: v.fieldPath, in: &message, what: "path variable {\(v.fieldPath.joined(separator: "."))}")
        }
        var query = Substring(query)
        if query.first == "?" { query = query.dropFirst() }
        for (name, value) in URLUnescape.queryParameters(query, plusAsSpace: options.queryParamUnescapePlus) {
            if options.ignoredQueryParameters.contains(name) { continue }
            let fieldPath = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            if options.ignoreUnknownQueryParameters && resolver.resolves(fieldPath, in: input) == false { continue }
            try resolver.assign(value, to: fieldPath, in: &message, what: "query parameter \"\(name)\"")
        }
        return message.encoded()
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
    /// client stream).
    public func message(json: [UInt8], type: String) throws -> [UInt8] {
        let type = try pool.message(type)
        return try JSONToMessage(pool: pool).message(try JSONParser.parse(json), type, path: "").encoded()
    }
}
