/// A parsed Envoy format string: literal text and `%COMMAND(arg):max%` operators, as used by
/// access logs, local reply bodies and header values. Parsing happens at config load, so an
/// unknown operator is a located config error; evaluation lives in FerryTelemetry.
public struct FormatString: Sendable, Hashable, CustomStringConvertible {
    public enum Token: Sendable, Hashable {
        case literal(String)
        case command(FormatCommand)
    }

    public var tokens: [Token]
    public var source: String

    public var description: String { source }
    public var isLiteral: Bool { tokens.allSatisfy { if case .literal = $0 { true } else { false } } }
    public var literalValue: String {
        tokens.map { if case .literal(let s) = $0 { s } else { "" } }.joined()
    }

    public init(literal: String) {
        self.tokens = literal.isEmpty ? [] : [.literal(literal)]
        self.source = literal
    }

    /// Envoy's default access log line.
    public static let envoyDefaultAccessLog = try! FormatString(parsing:
        "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% "
        + "%RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "
        + "\"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" "
        + "\"%UPSTREAM_HOST%\"\n")

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var fix: String
        public var description: String { message }
    }

    public init(parsing text: String) throws(ParseError) {
        source = text
        tokens = []
        var literal = ""
        var chars = Array(text)
        var i = 0
        while i < chars.count {
            let ch = chars[i]
            guard ch == "%" else {
                literal.append(ch)
                i += 1
                continue
            }
            if i + 1 < chars.count && chars[i + 1] == "%" {
                literal.append("%")
                i += 2
                continue
            }
            // A command's argument may itself contain '%' (START_TIME(%Y-%m-%d)): skip to the
            // closing parenthesis before looking for the closing '%'.
            var searchFrom = i + 1
            while searchFrom < chars.count, chars[searchFrom] != "%", chars[searchFrom] != "(" { searchFrom += 1 }
            if searchFrom < chars.count, chars[searchFrom] == "(" {
                guard let paren = chars[searchFrom...].firstIndex(of: ")") else {
                    throw ParseError(message: "command starting at \"\(String(chars[i...].prefix(20)))\" has an unclosed parenthesis",
                                     fix: "write %REQ(header-name)%")
                }
                searchFrom = paren
            }
            guard let close = chars[searchFrom...].firstIndex(of: "%") else {
                throw ParseError(message: "unterminated command starting at \"\(String(chars[i...].prefix(20)))\"",
                                 fix: "close each command with %, and write a literal percent sign as %%")
            }
            if !literal.isEmpty { tokens.append(.literal(literal)); literal = "" }
            let body = String(chars[(i + 1)..<close])
            tokens.append(.command(try FormatCommand(parsing: body)))
            i = close + 1
        }
        if !literal.isEmpty { tokens.append(.literal(literal)) }
        chars.removeAll()
    }
}

/// One `%...%` operator.
public struct FormatCommand: Sendable, Hashable {
    public var name: String
    /// Arguments inside the parentheses; for REQ/RESP/TRAILER the header and its `?` alternative.
    public var arguments: [String]
    /// `:N` truncation.
    public var maxLength: Int?

    /// Operators Ferry evaluates.
    public static let supported: Set<String> = [
        "START_TIME", "REQ", "RESP", "TRAILER", "PROTOCOL", "RESPONSE_CODE", "RESPONSE_CODE_DETAILS",
        "RESPONSE_FLAGS", "RESPONSE_FLAGS_LONG", "BYTES_RECEIVED", "BYTES_SENT", "DURATION", "REQUEST_DURATION",
        "RESPONSE_DURATION", "RESPONSE_TX_DURATION", "UPSTREAM_HOST", "UPSTREAM_CLUSTER", "UPSTREAM_LOCAL_ADDRESS",
        "UPSTREAM_TRANSPORT_FAILURE_REASON", "UPSTREAM_REMOTE_ADDRESS", "DOWNSTREAM_REMOTE_ADDRESS",
        "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_REMOTE_PORT", "DOWNSTREAM_DIRECT_REMOTE_ADDRESS",
        "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_LOCAL_ADDRESS",
        "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT", "DOWNSTREAM_LOCAL_PORT", "ROUTE_NAME", "VIRTUAL_CLUSTER_NAME",
        "REQUEST_HEADERS_BYTES", "RESPONSE_HEADERS_BYTES", "HOSTNAME", "LOCAL_REPLY_BODY",
        "UPSTREAM_REQUEST_ATTEMPT_COUNT", "CONNECTION_ID", "STREAM_ID", "ENVIRONMENT", "REQUESTED_SERVER_NAME",
        "UNIQUE_ID", "REQUEST_TX_DURATION", "UPSTREAM_CONNECTION_ID", "UPSTREAM_PROTOCOL",
        "DOWNSTREAM_PEER_URI_SAN", "DOWNSTREAM_PEER_SUBJECT", "DOWNSTREAM_TLS_VERSION", "GRPC_STATUS",
        "GRPC_STATUS_NUMBER",
    ]

    /// Operators that Envoy has and Ferry does not evaluate yet.
    static let envoyOnly: Set<String> = [
        "DYNAMIC_METADATA", "CLUSTER_METADATA", "UPSTREAM_METADATA", "FILTER_STATE", "UPSTREAM_FILTER_STATE",
        "DOWNSTREAM_LOCAL_URI_SAN", "DOWNSTREAM_TLS_CIPHER", "DOWNSTREAM_PEER_FINGERPRINT_256", "CONNECTION_TERMINATION_DETAILS",
        "TRACE_ID", "CEL", "METADATA", "COMMON_DURATION", "CUSTOM_FLAGS", "ACCESS_LOG_TYPE",
        "UPSTREAM_LOCAL_PORT", "UPSTREAM_REMOTE_PORT", "DOWNSTREAM_TRANSPORT_FAILURE_REASON",
        "DOWNSTREAM_HANDSHAKE_DURATION", "UPSTREAM_PEER_URI_SAN", "REQ_WITHOUT_QUERY", "QUERY_PARAM", "PATH",
        "VIRTUAL_CLUSTER_NAME", "EMIT_TIME", "SYSTEM_TIME",
    ]

    init(parsing body: String) throws(FormatString.ParseError) {
        var rest = Substring(body)
        var maxLength: Int?
        if let paren = rest.firstIndex(of: "(") {
            guard let closeParen = rest.lastIndex(of: ")"), closeParen > paren else {
                throw .init(message: "command %\(body)% has an unclosed parenthesis", fix: "write %REQ(header-name)%")
            }
            name = String(rest[..<paren])
            let inner = rest[rest.index(after: paren)..<closeParen]
            arguments = inner.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            rest = rest[rest.index(after: closeParen)...]
        } else if let colon = rest.firstIndex(of: ":") {
            name = String(rest[..<colon])
            arguments = []
            rest = rest[colon...]
        } else {
            name = String(rest)
            arguments = []
            rest = ""
        }
        if rest.hasPrefix(":") {
            guard let n = Int(rest.dropFirst()), n >= 0 else {
                throw .init(message: "command %\(body)% has a bad length \"\(rest.dropFirst())\"",
                            fix: "write the maximum length as a number, e.g. %REQ(user-agent):64%")
            }
            maxLength = n
        } else if !rest.isEmpty {
            throw .init(message: "unexpected text \"\(rest)\" after command %\(name)%", fix: "check the command syntax")
        }
        self.maxLength = maxLength
        // The name first: Envoy-only commands such as %DYNAMIC_METADATA(ns:key)% take arguments.
        guard Self.supported.contains(name) else {
            if Self.envoyOnly.contains(name) {
                throw .init(message: "command %\(name)% is not supported yet by Ferry",
                            fix: "remove it; supported commands are listed in docs/access-logs.md")
            }
            let suggestion = Suggestion.closest(to: name, in: Self.supported)
            throw .init(message: "unknown command %\(name)%" + (suggestion.map { " (did you mean %\($0)%?)" } ?? ""),
                        fix: suggestion.map { "write %\($0)%" } ?? "see docs/access-logs.md for the supported commands")
        }
        if name == "START_TIME" || name == "ENVIRONMENT" || name == "REQ" || name == "RESP" || name == "TRAILER" {
            if name != "START_TIME" && (arguments.isEmpty || arguments[0].isEmpty) {
                throw .init(message: "%\(name)% needs an argument", fix: "write %\(name)(name)%")
            }
        } else if name == "GRPC_STATUS" {
            guard arguments.count <= 1, ["", "CAMEL_STRING", "SNAKE_STRING", "NUMBER"].contains(arguments.first ?? "") else {
                throw .init(message: "%GRPC_STATUS% takes CAMEL_STRING, SNAKE_STRING or NUMBER",
                            fix: "write %GRPC_STATUS%, or %GRPC_STATUS(NUMBER)%")
            }
        } else if !arguments.isEmpty && name != "UNIQUE_ID" {
            throw .init(message: "%\(name)% takes no argument", fix: "write %\(name)%")
        }
        if name == "REQ" || name == "RESP" || name == "TRAILER" {
            arguments = arguments.map { $0.lowercased() }
        }
    }
}
