/// `envoy.config.accesslog.v3.AccessLog` with the file and stdio sinks.
public struct AccessLog: Sendable {
    public enum Sink: Sendable, Hashable {
        case file(String)
        case stdout
        case stderr
    }

    public var name: String
    public var sink: Sink
    public var format: LogFormat
    public var filter: AccessLogFilter?

    public init(name: String, sink: Sink, format: LogFormat = .text(.envoyDefaultAccessLog), filter: AccessLogFilter? = nil) {
        self.name = name
        self.sink = sink
        self.format = format
        self.filter = filter
    }

    static let fileType = "envoy.extensions.access_loggers.file.v3.FileAccessLog"
    static let stdoutType = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog"
    static let stderrType = "envoy.extensions.access_loggers.stream.v3.StderrAccessLog"

    static func decode(_ r: ObjectReader, context: DecodeContext) -> AccessLog? {
        defer { r.finish() }
        let name = r.string("name") ?? ""
        let filter = r.object("filter", "envoy.config.accesslog.v3.AccessLogFilter").flatMap(AccessLogFilter.decode)
        guard let (url, config) = r.any("typed_config") else {
            if !r.has("typed_config") {
                r.diagnostics.error(r.node.location, r.join("typed_config"), "access log has no typed_config",
                                    fix: "add `typed_config: {\"@type\": type.googleapis.com/\(stdoutType)}`")
            }
            return nil
        }
        defer { config.finish() }
        let sink: Sink
        var format = LogFormat.text(.envoyDefaultAccessLog)
        if url.hasSuffix("/" + fileType) {
            guard let path = config.requiredString("path", fix: "set `path: /var/log/ferry/access.log` or /dev/stdout") else {
                config.skipRemaining()
                return nil
            }
            sink = path == "/dev/stdout" ? .stdout : path == "/dev/stderr" ? .stderr : .file(path)
            switch config.oneOf(["format", "json_format", "typed_json_format", "log_format"], required: false, what: "format") {
            case "format":
                if let text = config.string("format") {
                    format = LogFormat.parseText(text, at: config.valueLocation(of: "format"), path: config.join("format"),
                                                 diagnostics: config.diagnostics) ?? format
                }
            case "json_format", "typed_json_format":
                let key = config.has("json_format") ? "json_format" : "typed_json_format"
                if let node = config.raw(key) {
                    format = LogFormat.parseJSON(node, path: config.join(key), diagnostics: config.diagnostics).map { .json($0, omitEmpty: false) } ?? format
                }
            case "log_format":
                if let sub = config.object("log_format", "envoy.config.core.v3.SubstitutionFormatString") {
                    format = SubstitutionFormat.decode(sub, context: context)?.format ?? format
                }
            default: break
            }
        } else if url.hasSuffix("/" + stdoutType) || url.hasSuffix("/" + stderrType) {
            sink = url.hasSuffix(stdoutType) ? .stdout : .stderr
            if let sub = config.object("log_format", "envoy.config.core.v3.SubstitutionFormatString") {
                format = SubstitutionFormat.decode(sub, context: context)?.format ?? format
            }
        } else {
            let known = ["envoy.extensions.access_loggers.grpc.v3", "envoy.extensions.access_loggers.open_telemetry",
                         "envoy.extensions.access_loggers.wasm", "envoy.extensions.access_loggers.fluentd",
                         "envoy.extensions.access_loggers.filters"]
            if known.contains(where: { url.contains($0) }) {
                r.diagnostics.error(r.valueLocation(of: "typed_config"), r.join("typed_config"),
                                    "access logger \(url) is not supported yet by Ferry",
                                    fix: "use \(fileType), \(stdoutType) or \(stderrType)")
            } else {
                r.diagnostics.error(r.valueLocation(of: "typed_config"), r.join("typed_config"), "unknown access logger type \(url)",
                                    fix: "use type.googleapis.com/\(fileType) (or StdoutAccessLog / StderrAccessLog)")
            }
            config.accept(contentsOf: config.keys)
            return nil
        }
        return AccessLog(name: name, sink: sink, format: format, filter: filter)
    }
}

/// How a log line (or a local reply body) is laid out.
public enum LogFormat: Sendable {
    case text(FormatString)
    case json([JSONTemplate.Member], omitEmpty: Bool)

    static func parseText(_ text: String, at location: SourceLocation, path: String, diagnostics: DiagnosticCollector) -> LogFormat? {
        do {
            return .text(try FormatString(parsing: text))
        } catch {
            diagnostics.error(location, path, error.message, fix: error.fix)
            return nil
        }
    }

    static func parseJSON(_ node: ConfigNode, path: String, diagnostics: DiagnosticCollector) -> [JSONTemplate.Member]? {
        guard case .object(let members)? = JSONTemplate.parse(node, path: path, diagnostics: diagnostics) else {
            if node.entries == nil {
                diagnostics.error(node.location, path, "json_format must be a mapping of keys to values or commands",
                                  fix: "write e.g. `json_format: {status: \"%RESPONSE_CODE%\", path: \"%REQ(:PATH)%\"}`")
            }
            return nil
        }
        return members
    }
}

/// A JSON value whose strings may hold format commands (`json_format`).
public indirect enum JSONTemplate: Sendable {
    public struct Member: Sendable {
        public var key: String
        public var value: JSONTemplate
    }

    case object([Member])
    case string(FormatString)
    case number(String)
    case bool(Bool)
    case null

    static func parse(_ node: ConfigNode, path: String, diagnostics: DiagnosticCollector) -> JSONTemplate? {
        switch node.value {
        case .mapping(let entries):
            var members: [Member] = []
            for entry in entries {
                guard let value = parse(entry.value, path: "\(path).\(entry.key)", diagnostics: diagnostics) else { continue }
                members.append(Member(key: entry.key, value: value))
            }
            return .object(members)
        case .sequence:
            diagnostics.error(node.location, path, "lists are not allowed in json_format (as in Envoy)",
                              fix: "use a nested mapping instead")
            return nil
        case .null:
            return .null
        case .scalar(let text, let style):
            if style == .plain {
                if text == "true" || text == "false" { return .bool(text == "true") }
                if Double(text) != nil { return .number(text) }
            }
            do {
                return .string(try FormatString(parsing: text))
            } catch {
                diagnostics.error(node.location, path, error.message, fix: error.fix)
                return nil
            }
        }
    }
}

/// `envoy.config.core.v3.SubstitutionFormatString`.
public struct SubstitutionFormat: Sendable {
    public var format: LogFormat
    public var contentType: String?

    static func decode(_ r: ObjectReader, context: DecodeContext) -> SubstitutionFormat? {
        defer { r.finish() }
        let omitEmpty = r.bool("omit_empty_values") ?? false
        let contentType = r.string("content_type")
        var format: LogFormat?
        switch r.oneOf(["text_format", "json_format", "text_format_source"], required: true, what: "format") {
        case "text_format":
            if let text = r.string("text_format") {
                format = LogFormat.parseText(text, at: r.valueLocation(of: "text_format"), path: r.join("text_format"),
                                             diagnostics: r.diagnostics)
            }
        case "text_format_source":
            if let source = r.object("text_format_source", "envoy.config.core.v3.DataSource"),
               let data = DataSource.decode(source, baseDirectory: context.baseDirectory) {
                format = LogFormat.parseText(data.string, at: r.valueLocation(of: "text_format_source"),
                                             path: r.join("text_format_source"), diagnostics: r.diagnostics)
            }
        case "json_format":
            if let node = r.raw("json_format") {
                format = LogFormat.parseJSON(node, path: r.join("json_format"), diagnostics: r.diagnostics).map { .json($0, omitEmpty: omitEmpty) }
            }
        default: break
        }
        if omitEmpty, case .text? = format {
            r.diagnostics.error(r.location(of: "omit_empty_values"), r.join("omit_empty_values"),
                                "omit_empty_values on a text format is not supported yet by Ferry", fix: "remove it")
        }
        return format.map { SubstitutionFormat(format: $0, contentType: contentType) }
    }
}

/// `envoy.config.accesslog.v3.AccessLogFilter`: a predicate over a finished request, used by
/// access logs and by local reply mappers.
public indirect enum AccessLogFilter: Sendable {
    public enum Comparison: String, ConfigEnum {
        case eq = "EQ", ge = "GE", le = "LE", ne = "NE"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
        public func holds(_ value: UInt64, _ reference: UInt64) -> Bool {
            switch self {
            case .eq: value == reference
            case .ge: value >= reference
            case .le: value <= reference
            case .ne: value != reference
            }
        }
    }

    case statusCode(Comparison, UInt32)
    /// Duration in milliseconds.
    case duration(Comparison, UInt32)
    case notHealthCheck
    case and([AccessLogFilter])
    case or([AccessLogFilter])
    case header(HeaderMatcher)
    /// Empty list = any flag set.
    case responseFlags([String])

    public static let responseFlagNames: Set<String> = [
        "LH", "UH", "UT", "LR", "UR", "UF", "UC", "UO", "NR", "DI", "FI", "RL", "UAEX", "RLSE", "DC", "URX", "SI", "IH",
        "DPE", "UMSDR", "RFCF", "NFCF", "DT", "UPE", "NC", "OM", "DF", "DO", "DR", "UDO",
    ]

    static func decode(_ r: ObjectReader) -> AccessLogFilter? {
        defer { r.finish() }
        switch r.oneOf(["status_code_filter", "duration_filter", "not_health_check_filter", "traceable_filter", "runtime_filter",
                        "and_filter", "or_filter", "header_filter", "response_flag_filter", "grpc_status_filter",
                        "extension_filter", "metadata_filter", "log_type_filter"], required: true, what: "filter") {
        case "status_code_filter":
            guard let f = r.object("status_code_filter", "envoy.config.accesslog.v3.StatusCodeFilter") else { return nil }
            defer { f.finish() }
            return decodeComparison(f).map { .statusCode($0.0, $0.1) }
        case "duration_filter":
            guard let f = r.object("duration_filter", "envoy.config.accesslog.v3.DurationFilter") else { return nil }
            defer { f.finish() }
            return decodeComparison(f).map { .duration($0.0, $0.1) }
        case "not_health_check_filter":
            r.object("not_health_check_filter", "envoy.config.accesslog.v3.NotHealthCheckFilter")?.finish()
            return .notHealthCheck
        case "and_filter", "or_filter":
            let key = r.has("and_filter") ? "and_filter" : "or_filter"
            guard let f = r.object(key, "envoy.config.accesslog.v3.AndFilter") else { return nil }
            defer { f.finish() }
            let filters = f.objects("filters", "envoy.config.accesslog.v3.AccessLogFilter").compactMap(decode)
            if filters.count < 2 {
                f.diagnostics.error(f.node.location, f.join("filters"), "needs at least two filters (as in Envoy)", fix: nil)
            }
            return key == "and_filter" ? .and(filters) : .or(filters)
        case "header_filter":
            guard let f = r.object("header_filter", "envoy.config.accesslog.v3.HeaderFilter") else { return nil }
            defer { f.finish() }
            guard let h = f.object("header", "envoy.config.route.v3.HeaderMatcher") else {
                f.diagnostics.error(f.node.location, f.join("header"), "required field is missing", fix: nil)
                return nil
            }
            return HeaderMatcher.decode(h).map { .header($0) }
        case "response_flag_filter":
            guard let f = r.object("response_flag_filter", "envoy.config.accesslog.v3.ResponseFlagFilter") else { return nil }
            defer { f.finish() }
            var flags: [String] = []
            for (flag, location) in f.strings("flags") {
                if responseFlagNames.contains(flag) { flags.append(flag) } else {
                    let s = Suggestion.closest(to: flag, in: responseFlagNames)
                    f.diagnostics.error(location, f.join("flags"), "unknown response flag \"\(flag)\"" + (s.map { " (did you mean \($0)?)" } ?? ""),
                                        fix: "use Envoy's short flag names such as UH, UF, NR, UT")
                }
            }
            return .responseFlags(flags)
        default:
            return nil
        }
    }

    private static func decodeComparison(_ f: ObjectReader) -> (Comparison, UInt32)? {
        guard let c = f.object("comparison", "envoy.config.accesslog.v3.ComparisonFilter") else {
            f.diagnostics.error(f.node.location, f.join("comparison"), "required field is missing",
                                fix: "write `comparison: {op: GE, value: {default_value: 500, runtime_key: ignored}}`")
            return nil
        }
        defer { c.finish() }
        let op = c.enumeration("op", Comparison.self) ?? .eq
        guard let value = c.object("value", "envoy.config.core.v3.RuntimeUInt32") else {
            c.diagnostics.error(c.node.location, c.join("value"), "required field is missing", fix: nil)
            return nil
        }
        defer { value.finish() }
        value.accept("runtime_key")  // runtime overrides resolve against layered_runtime at compile time
        return (op, value.uint32("default_value") ?? 0)
    }
}

/// `envoy.extensions.filters.network.http_connection_manager.v3.LocalReplyConfig`.
public struct LocalReplyConfig: Sendable {
    public struct Mapper: Sendable {
        public var filter: AccessLogFilter
        public var statusCode: Int?
        public var body: DataSource?
        public var bodyFormat: SubstitutionFormat?
        public var headersToAdd: [HeaderValueOption]
    }

    public var mappers: [Mapper] = []
    public var bodyFormat: SubstitutionFormat?

    static func decode(_ r: ObjectReader, context: DecodeContext) -> LocalReplyConfig {
        defer { r.finish() }
        var config = LocalReplyConfig()
        for m in r.objects("mappers", "envoy.extensions.filters.network.http_connection_manager.v3.ResponseMapper") {
            defer { m.finish() }
            guard let filterReader = m.object("filter", "envoy.config.accesslog.v3.AccessLogFilter") else {
                m.diagnostics.error(m.node.location, m.join("filter"), "a mapper needs a filter",
                                    fix: "add e.g. `filter: {status_code_filter: {comparison: {op: EQ, value: {default_value: 404, runtime_key: x}}}}`")
                m.skipRemaining()
                continue
            }
            guard let filter = AccessLogFilter.decode(filterReader) else { continue }
            let status = m.uint32("status_code", in: 200...599).map(Int.init)
            let body = m.object("body", "envoy.config.core.v3.DataSource").flatMap { DataSource.decode($0, baseDirectory: context.baseDirectory) }
            let format = m.object("body_format_override", "envoy.config.core.v3.SubstitutionFormatString")
                .flatMap { SubstitutionFormat.decode($0, context: context) }
            let headers = m.objects("headers_to_add", "envoy.config.core.v3.HeaderValueOption").compactMap(HeaderValueOption.decode)
            config.mappers.append(Mapper(filter: filter, statusCode: status, body: body, bodyFormat: format, headersToAdd: headers))
        }
        config.bodyFormat = r.object("body_format", "envoy.config.core.v3.SubstitutionFormatString")
            .flatMap { SubstitutionFormat.decode($0, context: context) }
        return config
    }
}
