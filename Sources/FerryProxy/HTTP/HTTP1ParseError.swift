/// A malformed HTTP/1 message. `status` is what a server answers (the connection is then closed);
/// `detail` is Envoy's response code detail, for access logs.
public struct HTTP1ParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var detail: String

    public init(status: Int = 400, _ detail: String) {
        self.status = status
        self.detail = detail
    }

    public var description: String { "\(status) \(detail)" }

    static func bad(_ detail: String) -> HTTP1ParseError { HTTP1ParseError(status: 400, "http1.\(detail)") }
    static let headersTooLarge = HTTP1ParseError(status: 431, "http1.headers_too_large")
    static let tooManyHeaders = HTTP1ParseError(status: 431, "http1.too_many_headers")
    static let requestLineTooLong = HTTP1ParseError(status: 414, "http1.request_line_too_long")
    static let versionNotSupported = HTTP1ParseError(status: 505, "http1.version_not_supported")
    static let transferCodingNotImplemented = HTTP1ParseError(status: 501, "http1.transfer_coding_not_implemented")
}
