/// An HTTP version as sent on the wire.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: Int
    public var minor: Int

    public static let http10 = HTTPVersion(major: 1, minor: 0)
    public static let http11 = HTTPVersion(major: 1, minor: 1)
    public static let http2 = HTTPVersion(major: 2, minor: 0)

    public var description: String { major == 2 ? "HTTP/2" : "HTTP/\(major).\(minor)" }
}

/// A request head in codec-neutral form: HTTP/1 request lines and HTTP/2 pseudo-headers both map
/// onto it. `Host` lives in `authority`, never in `headers`.
public struct RequestHead: Sendable {
    public var method: String
    /// Path and query (`/a/b?x=1`); `*` for `OPTIONS *`.
    public var path: String
    public var authority: String?
    public var scheme: String
    public var version: HTTPVersion
    public var headers: HeaderMap
    /// The request-target was in absolute-form (`GET http://host/path`).
    public var absoluteForm = false
    /// Fields an HTTP/2 client sent never-indexed (RFC 7541 §7.1.3); an HTTP/2 hop re-encodes
    /// them the same way (`HTTP2HeaderMapping.indexing`). Nil for nearly every request.
    public var neverIndexed: [String]?

    public init(method: String, path: String, authority: String?, scheme: String = "http",
                version: HTTPVersion = .http11, headers: HeaderMap = HeaderMap()) {
        self.method = method
        self.path = path
        self.authority = authority
        self.scheme = scheme
        self.version = version
        self.headers = headers
    }

    /// The path without its query string.
    public var pathWithoutQuery: Substring {
        if let q = path.firstIndex(of: "?") { return path[..<q] }
        return path[...]
    }

    /// The raw query string after `?` (without fragment), or nil.
    public var query: Substring? {
        guard let q = path.firstIndex(of: "?") else { return nil }
        return path[path.index(after: q)...]
    }

    /// HTTP/1 persistence: 1.1 unless `Connection: close`; 1.0 only with `Connection: keep-alive`.
    public var wantsKeepAlive: Bool {
        if version == .http10 { return headers.hasToken("connection", "keep-alive") }
        return !headers.hasToken("connection", "close")
    }
}

/// A response head in codec-neutral form.
public struct ResponseHead: Sendable {
    public var status: Int
    /// The reason phrase the upstream sent; Ferry writes the standard one when nil.
    public var reason: String?
    public var version: HTTPVersion
    public var headers: HeaderMap
    /// Fields an HTTP/2 upstream sent never-indexed, as `RequestHead.neverIndexed`.
    public var neverIndexed: [String]?

    public init(status: Int, reason: String? = nil, version: HTTPVersion = .http11, headers: HeaderMap = HeaderMap()) {
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
    }

    public var wantsKeepAlive: Bool {
        if version == .http10 { return headers.hasToken("connection", "keep-alive") }
        return !headers.hasToken("connection", "close")
    }
}

/// Standard reason phrases.
public enum HTTPReason {
    public static func phrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 103: "Early Hints"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 203: "Non-Authoritative Information"
        case 204: "No Content"
        case 205: "Reset Content"
        case 206: "Partial Content"
        case 300: "Multiple Choices"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 407: "Proxy Authentication Required"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Payload Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 421: "Misdirected Request"
        case 422: "Unprocessable Entity"
        case 425: "Too Early"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 451: "Unavailable For Legal Reasons"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        case 507: "Insufficient Storage"
        case 511: "Network Authentication Required"
        default: "Unknown"
        }
    }
}
