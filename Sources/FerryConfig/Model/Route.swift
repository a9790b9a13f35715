/// `envoy.config.route.v3.Route`: a match and what to do with requests that match it.
public struct Route: Sendable {
    public enum Action: Sendable {
        case route(RouteAction)
        case redirect(RedirectAction)
        case directResponse(DirectResponseAction)
    }

    public var name: String
    public var match: RouteMatch
    public var action: Action
    public var requestHeaders = HeaderMutations()
    public var responseHeaders = HeaderMutations()
    /// Request bytes kept for retries; nil = the listener's per_connection_buffer_limit_bytes.
    public var retryBufferLimit: UInt64?
    /// Per-filter settings for this route (the most specific level).
    public var typedPerFilterConfig: [String: FilterOverride] = [:]
    public var location: SourceLocation = .unknown
    public var path: String = ""

    public init(name: String = "", match: RouteMatch, action: Action) {
        self.name = name
        self.match = match
        self.action = action
    }

    static func decode(_ r: ObjectReader, context: DecodeContext, maxBody: UInt32) -> Route? {
        defer { r.finish() }
        let name = r.string("name") ?? ""
        guard let matchReader = r.object("match", "envoy.config.route.v3.RouteMatch") else {
            r.diagnostics.error(r.node.location, r.join("match"), "a route needs a match",
                                fix: "add `match: {prefix: \"/\"}` to match every path")
            r.skipRemaining()
            return nil
        }
        let match = RouteMatch.decode(matchReader)
        let action: Action?
        switch r.oneOf(["route", "redirect", "direct_response", "filter_action", "non_forwarding_action"], required: true,
                       what: "route action") {
        case "route":
            action = r.object("route", "envoy.config.route.v3.RouteAction").flatMap { RouteAction.decode($0, context: context) }
                .map { .route($0) }
        case "redirect":
            action = r.object("redirect", "envoy.config.route.v3.RedirectAction").flatMap(RedirectAction.decode)
                .map { .redirect($0) }
        case "direct_response":
            action = r.object("direct_response", "envoy.config.route.v3.DirectResponseAction")
                .flatMap { DirectResponseAction.decode($0, context: context, maxBody: maxBody) }
                .map { .directResponse($0) }
        default:
            action = nil
        }
        var route = Route(name: name, match: match ?? RouteMatch(path: .prefix("/")), action: action ?? .directResponse(.init(status: 500)))
        route.location = r.node.location
        route.path = r.path
        route.requestHeaders = HeaderMutations.decode(r, prefix: "request_")
        route.responseHeaders = HeaderMutations.decode(r, prefix: "response_")
        route.retryBufferLimit = decodeBufferLimit(r)
        route.typedPerFilterConfig = FilterOverride.decodeMap(r)
        guard match != nil, action != nil else { return nil }
        return route
    }

    /// `request_body_buffer_limit` (or the deprecated `per_request_buffer_limit_bytes`).
    static func decodeBufferLimit(_ r: ObjectReader) -> UInt64? {
        if r.has("request_body_buffer_limit") && r.has("per_request_buffer_limit_bytes") {
            r.diagnostics.error(r.location(of: "per_request_buffer_limit_bytes"), r.join("per_request_buffer_limit_bytes"),
                                "set request_body_buffer_limit or per_request_buffer_limit_bytes, not both",
                                fix: "keep request_body_buffer_limit (per_request_buffer_limit_bytes is deprecated)")
        }
        if let limit = r.integer("request_body_buffer_limit", in: 0...Int64.max) { return UInt64(limit) }
        if let limit = r.uint32("per_request_buffer_limit_bytes") { return UInt64(limit) }
        return nil
    }
}

/// `envoy.config.route.v3.RouteMatch`.
public struct RouteMatch: Sendable {
    public enum PathSpecifier: Sendable {
        case prefix(String)
        case path(String)
        case regex(CompiledRegex)
        /// Matches the prefix exactly or followed by `/`, `?` or `#`.
        case pathSeparatedPrefix(String)
    }

    public var path: PathSpecifier
    public var caseSensitive = true
    public var headers: [HeaderMatcher] = []
    public var queryParameters: [QueryParameterMatcher] = []
    /// Only gRPC requests (content-type application/grpc*).
    public var grpcOnly = false

    public init(path: PathSpecifier) { self.path = path }

    static func decode(_ r: ObjectReader) -> RouteMatch? {
        defer { r.finish() }
        var spec: PathSpecifier?
        switch r.oneOf(["prefix", "path", "safe_regex", "path_separated_prefix", "connect_matcher", "path_match_policy"],
                       required: true, what: "path specifier") {
        case "prefix": spec = .prefix(r.string("prefix") ?? "")
        case "path": spec = .path(r.string("path") ?? "")
        case "safe_regex":
            spec = r.object("safe_regex", "envoy.type.matcher.v3.RegexMatcher").flatMap(CompiledRegex.decode).map { .regex($0) }
        case "path_separated_prefix":
            if let prefix = r.requiredString("path_separated_prefix") {
                if prefix.hasSuffix("/") || prefix.contains("?") || prefix.contains("#") {
                    r.diagnostics.error(r.valueLocation(of: "path_separated_prefix"), r.join("path_separated_prefix"),
                                        "must not end with '/' or contain '?' or '#'",
                                        fix: "write the prefix without a trailing slash, e.g. /api")
                } else {
                    spec = .pathSeparatedPrefix(prefix)
                }
            }
        default:
            break
        }
        var match = RouteMatch(path: spec ?? .prefix("/"))
        match.caseSensitive = r.bool("case_sensitive") ?? true
        match.headers = r.objects("headers", "envoy.config.route.v3.HeaderMatcher").compactMap(HeaderMatcher.decode)
        match.queryParameters = r.objects("query_parameters", "envoy.config.route.v3.QueryParameterMatcher")
            .compactMap(QueryParameterMatcher.decode)
        if let grpc = r.object("grpc", "envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions") {
            grpc.finish()
            match.grpcOnly = true
        }
        return spec == nil ? nil : match
    }
}

/// `envoy.config.route.v3.RedirectAction`.
public struct RedirectAction: Sendable {
    public enum PathRewrite: Sendable {
        case path(String)
        case prefix(String)
        case regex(CompiledRegex, substitution: String)
    }

    public enum ResponseCode: String, ConfigEnum {
        case movedPermanently = "MOVED_PERMANENTLY"
        case found = "FOUND"
        case seeOther = "SEE_OTHER"
        case temporaryRedirect = "TEMPORARY_REDIRECT"
        case permanentRedirect = "PERMANENT_REDIRECT"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
        public var status: Int {
            switch self {
            case .movedPermanently: 301
            case .found: 302
            case .seeOther: 303
            case .temporaryRedirect: 307
            case .permanentRedirect: 308
            }
        }
    }

    public var scheme: String?
    public var host: String?
    public var port: Int?
    public var pathRewrite: PathRewrite?
    public var responseCode: ResponseCode = .movedPermanently
    public var stripQuery = false

    static func decode(_ r: ObjectReader) -> RedirectAction? {
        defer { r.finish() }
        var redirect = RedirectAction()
        switch r.oneOf(["https_redirect", "scheme_redirect"], required: false, what: "scheme rewrite") {
        case "https_redirect": if r.bool("https_redirect") == true { redirect.scheme = "https" }
        case "scheme_redirect": redirect.scheme = r.string("scheme_redirect")?.lowercased()
        default: break
        }
        redirect.host = r.string("host_redirect")
        if let port = r.uint32("port_redirect", in: 0...65535), port != 0 { redirect.port = Int(port) }
        switch r.oneOf(["path_redirect", "prefix_rewrite", "regex_rewrite"], required: false, what: "path rewrite") {
        case "path_redirect": redirect.pathRewrite = r.string("path_redirect").map { .path($0) }
        case "prefix_rewrite": redirect.pathRewrite = r.string("prefix_rewrite").map { .prefix($0) }
        case "regex_rewrite":
            if let sub = r.object("regex_rewrite", "envoy.type.matcher.v3.RegexMatchAndSubstitute"),
               let (regex, substitution) = RouteAction.decodeRegexRewrite(sub) {
                redirect.pathRewrite = .regex(regex, substitution: substitution)
            }
        default: break
        }
        redirect.responseCode = r.enumeration("response_code", ResponseCode.self) ?? .movedPermanently
        redirect.stripQuery = r.bool("strip_query") ?? false
        return redirect
    }
}

/// `envoy.config.route.v3.DirectResponseAction`.
public struct DirectResponseAction: Sendable {
    public var status: Int
    public var body: DataSource?

    public init(status: Int, body: DataSource? = nil) {
        self.status = status
        self.body = body
    }

    static func decode(_ r: ObjectReader, context: DecodeContext, maxBody: UInt32) -> DirectResponseAction? {
        defer { r.finish() }
        guard r.has("status") else {
            r.diagnostics.error(r.node.location, r.join("status"), "required field is missing", fix: "add `status: 200`")
            r.skipRemaining()
            return nil
        }
        guard let status = r.uint32("status", in: 200...599, fix: "use an HTTP status between 200 and 599") else { return nil }
        var action = DirectResponseAction(status: Int(status))
        if let body = r.object("body", "envoy.config.core.v3.DataSource") {
            action.body = DataSource.decode(body, baseDirectory: context.baseDirectory)
            if let bytes = action.body?.bytes, bytes.count > Int(maxBody) {
                r.diagnostics.error(r.valueLocation(of: "body"), r.join("body"),
                                    "body is \(bytes.count) bytes, more than max_direct_response_body_size_bytes (\(maxBody))",
                                    fix: "raise route_config.max_direct_response_body_size_bytes or shorten the body")
            }
        }
        return action
    }
}
