/// `envoy.config.core.v3.HealthCheck`: how a cluster actively checks its endpoints (HTTP/1,
/// TCP or gRPC). Envoy allows one per cluster. Durations keep Envoy's defaults: `no_traffic_interval`
/// 60s, `no_traffic_healthy_interval` = `no_traffic_interval`, `unhealthy_interval` =
/// `interval`, `unhealthy_edge_interval` = `unhealthy_interval`, `healthy_edge_interval` =
/// `interval`, no jitter, `reuse_connection` true.
public struct HealthCheck: Sendable {
    public enum Kind: Sendable {
        case http(HTTPHealthCheck)
        case tcp(TCPHealthCheck)
        case grpc(GRPCHealthCheck)
    }

    public var timeout: Duration
    public var interval: Duration
    public var initialJitter: Duration = .zero
    public var intervalJitter: Duration = .zero
    public var intervalJitterPercent: UInt32 = 0
    public var unhealthyThreshold: UInt32
    public var healthyThreshold: UInt32
    public var noTrafficInterval: Duration = .seconds(60)
    public var noTrafficHealthyInterval: Duration?
    public var unhealthyInterval: Duration?
    public var unhealthyEdgeInterval: Duration?
    public var healthyEdgeInterval: Duration?
    public var reuseConnection = true
    public var kind: Kind

    public init(timeout: Duration, interval: Duration, unhealthyThreshold: UInt32, healthyThreshold: UInt32, kind: Kind) {
        self.timeout = timeout
        self.interval = interval
        self.unhealthyThreshold = unhealthyThreshold
        self.healthyThreshold = healthyThreshold
        self.kind = kind
    }

    static let message = "envoy.config.core.v3.HealthCheck"

    /// `clusters[].health_checks`: at most one entry, as in Envoy.
    static func decodeList(_ r: ObjectReader) -> [HealthCheck] {
        let readers = r.objects("health_checks", message)
        if readers.count > 1 {
            r.diagnostics.error(readers[1].node.location, readers[1].path, "a cluster supports one health check (as in Envoy)",
                                fix: "keep one entry in health_checks")
        }
        return readers.prefix(1).compactMap(decode)
    }

    static func decode(_ r: ObjectReader) -> HealthCheck? {
        defer { r.finish() }
        let timeout = r.duration("timeout", positive: true)
        let interval = r.duration("interval", positive: true)
        let bound: ClosedRange<Int64> = 1...Int64(UInt32.max)
        let unhealthy = r.uint32("unhealthy_threshold", in: bound, fix: "use 1 or more consecutive failures, e.g. 3")
        let healthy = r.uint32("healthy_threshold", in: bound, fix: "use 1 or more consecutive successes, e.g. 2")
        for (key, value) in [("timeout", timeout != nil), ("interval", interval != nil),
                             ("unhealthy_threshold", unhealthy != nil), ("healthy_threshold", healthy != nil)]
        where !value && !r.has(key) {
            r.diagnostics.error(r.node.location, r.join(key), "required field is missing",
                                fix: "add `\(key): \(key.hasSuffix("threshold") ? "2" : "1s")` to this health check")
        }
        let kind = decodeKind(r)
        guard let timeout, let interval, let unhealthy, let healthy, let kind else {
            r.skipRemaining()
            return nil
        }
        var check = HealthCheck(timeout: timeout, interval: interval, unhealthyThreshold: unhealthy, healthyThreshold: healthy,
                                kind: kind)
        check.initialJitter = r.duration("initial_jitter") ?? .zero
        check.intervalJitter = r.duration("interval_jitter") ?? .zero
        check.intervalJitterPercent = r.uint32("interval_jitter_percent") ?? 0
        check.noTrafficInterval = r.duration("no_traffic_interval", positive: true) ?? .seconds(60)
        check.noTrafficHealthyInterval = r.duration("no_traffic_healthy_interval", positive: true)
        check.unhealthyInterval = r.duration("unhealthy_interval", positive: true)
        check.unhealthyEdgeInterval = r.duration("unhealthy_edge_interval", positive: true)
        check.healthyEdgeInterval = r.duration("healthy_edge_interval", positive: true)
        check.reuseConnection = r.bool("reuse_connection") ?? true
        // They only change what Envoy's health check event log records; Ferry has no event log,
        // so there is nothing for them to change.
        _ = r.bool("always_log_health_check_failures")
        _ = r.bool("always_log_health_check_success")
        return check
    }

    static func decodeKind(_ r: ObjectReader) -> Kind? {
        let kinds = ["http_health_check", "tcp_health_check", "grpc_health_check", "custom_health_check"]
        switch r.oneOf(kinds, required: true, what: "health checker") {
        case "http_health_check":
            return r.object("http_health_check", HTTPHealthCheck.message).flatMap(HTTPHealthCheck.decode).map(Kind.http)
        case "tcp_health_check":
            return r.object("tcp_health_check", TCPHealthCheck.message).map(TCPHealthCheck.decode).map(Kind.tcp)
        case "grpc_health_check":
            return r.object("grpc_health_check", GRPCHealthCheck.message).map(GRPCHealthCheck.decode).map(Kind.grpc)
        case let key?:
            r.accept(key)
            r.diagnostics.error(r.location(of: key), r.join(key), "\(key) is not supported yet by Ferry",
                                fix: "use http_health_check (HTTP/1), tcp_health_check or grpc_health_check")
            return nil
        case nil:
            return nil
        }
    }

    /// Run-time defaults Envoy derives from `interval`.
    public var effectiveUnhealthyInterval: Duration { unhealthyInterval ?? interval }
    public var effectiveUnhealthyEdgeInterval: Duration { unhealthyEdgeInterval ?? effectiveUnhealthyInterval }
    public var effectiveHealthyEdgeInterval: Duration { healthyEdgeInterval ?? interval }
    public var effectiveNoTrafficHealthyInterval: Duration { noTrafficHealthyInterval ?? noTrafficInterval }
}

/// `envoy.config.core.v3.HealthCheck.HttpHealthCheck` over HTTP/1.1.
public struct HTTPHealthCheck: Sendable {
    public enum Method: String, ConfigEnum {
        case unspecified = "METHOD_UNSPECIFIED", get = "GET", head = "HEAD", post = "POST", put = "PUT", delete = "DELETE",
             connect = "CONNECT", options = "OPTIONS", trace = "TRACE", patch = "PATCH"
        public var protoNumber: Int { Self.allCases.firstIndex(of: self)! }
    }

    public var path: String
    /// The `host` header; empty means the endpoint's `hostname`, else the cluster's name (as Envoy).
    public var host = ""
    public var method = "GET"
    public var requestHeaders = HeaderMutations()
    /// Half-open ranges `[start, end)`; Envoy's default is 200 only.
    public var expectedStatuses: [Range<Int>] = [200..<201]
    /// Failing statuses that count towards `unhealthy_threshold` instead of failing the host at once.
    public var retriableStatuses: [Range<Int>] = []

    public init(path: String) { self.path = path }

    static let message = "envoy.config.core.v3.HealthCheck.HttpHealthCheck"

    static func decode(_ r: ObjectReader) -> HTTPHealthCheck? {
        defer { r.finish() }
        guard let path = r.requiredString("path", fix: "add `path: /healthz` (the request path the endpoints answer)") else {
            r.skipRemaining()
            return nil
        }
        var check = HTTPHealthCheck(path: path)
        check.host = r.string("host") ?? ""
        if let method = r.enumeration("method", Method.self), method != .unspecified {
            if method == .connect {
                r.diagnostics.error(r.valueLocation(of: "method"), r.join("method"), "CONNECT cannot be a health check method (as in Envoy)",
                                    fix: "use GET (the default) or HEAD")
            }
            check.method = method.rawValue
        }
        check.requestHeaders = HeaderMutations.decode(r, prefix: "request_")
        for option in check.requestHeaders.add where !option.value.isLiteral {
            r.diagnostics.error(r.location(of: "request_headers_to_add"), r.join("request_headers_to_add"),
                                "header \(option.name): format commands in health check headers are not supported yet by Ferry",
                                fix: "write a literal value")
        }
        let expected = statusRanges(r, "expected_statuses")
        if !expected.isEmpty { check.expectedStatuses = expected }
        check.retriableStatuses = statusRanges(r, "retriable_statuses")
        if let codec = r.string("codec_client_type"), codec != "HTTP1" {
            r.diagnostics.error(r.valueLocation(of: "codec_client_type"), r.join("codec_client_type"),
                                "codec_client_type \(codec) is not supported yet by Ferry (health checks speak HTTP/1.1)",
                                fix: "remove it or use HTTP1")
        }
        return check
    }

    /// `envoy.type.v3.Int64Range` list: `start` inclusive, `end` exclusive, within 100...600.
    static func statusRanges(_ r: ObjectReader, _ key: String) -> [Range<Int>] {
        r.objects(key, "envoy.type.v3.Int64Range").compactMap { range in
            defer { range.finish() }
            let start = range.integer("start", in: 100...599, fix: "use a status such as 200") ?? 0
            let end = range.integer("end", in: 101...600, fix: "use the first status after the range, such as 300") ?? 0
            guard start > 0, end > 0 else { return nil }
            guard start < end else {
                range.diagnostics.error(range.node.location, range.path, "start \(start) is not below end \(end) (end is exclusive)",
                                        fix: "write {start: \(start), end: \(start + 1)} for \(start) alone")
                return nil
            }
            return Int(start)..<Int(end)
        }
    }
}

/// `envoy.config.core.v3.HealthCheck.TcpHealthCheck`: connect, optionally send bytes and expect
/// every `receive` payload in the reply (in any order, as Envoy); no `send` and no `receive`
/// means a successful connect passes.
public struct TCPHealthCheck: Sendable {
    public var send: [UInt8] = []
    public var receive: [[UInt8]] = []

    public init(send: [UInt8] = [], receive: [[UInt8]] = []) {
        self.send = send
        self.receive = receive
    }

    static let message = "envoy.config.core.v3.HealthCheck.TcpHealthCheck"

    static func decode(_ r: ObjectReader) -> TCPHealthCheck {
        defer { r.finish() }
        var check = TCPHealthCheck()
        if let send = r.object("send", "envoy.config.core.v3.HealthCheck.Payload") { check.send = payload(send) ?? [] }
        check.receive = r.objects("receive", "envoy.config.core.v3.HealthCheck.Payload").compactMap(payload)
        return check
    }

    /// A `Payload` written as `text` (hex digits, as Envoy); `binary` is not supported yet.
    static func payload(_ r: ObjectReader) -> [UInt8]? {
        defer { r.finish() }
        if r.has("binary") {
            r.accept("binary")
            r.diagnostics.error(r.location(of: "binary"), r.join("binary"), "HealthCheck.Payload.binary is not supported yet by Ferry",
                                fix: "write the same bytes as hex digits in `text`")
            return nil
        }
        guard let text = r.requiredString("text", fix: "write the bytes as hex, e.g. `text: \"50494E47\"` for PING") else {
            r.skipRemaining()
            return nil
        }
        guard let bytes = hexBytes(text) else {
            r.diagnostics.error(r.valueLocation(of: "text"), r.join("text"), "\"\(text)\" is not an even number of hex digits",
                                fix: "write each byte as two hex digits, e.g. \"50494E47\" for PING")
            return nil
        }
        return bytes
    }

    static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let hi = hexValue(digits[i]), let lo = hexValue(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: c - 0x30
        case 0x41...0x46: c - 0x41 + 10
        case 0x61...0x66: c - 0x61 + 10
        default: nil
        }
    }
}

/// A cluster's active health checking: its checks and `common_lb_config.ignore_new_hosts_until_first_hc`.
public struct ActiveHealthChecking: Sendable {
    public var checks: [HealthCheck] = []
    /// New hosts stay out of rotation (`/pending_active_hc`) until their first check completes.
    public var ignoreNewHostsUntilFirstHC = false
    public init() {}

    public var isEnabled: Bool { !checks.isEmpty }
}
