/// What the formatter may ask about a finished (or finishing) request. The data plane's stream
/// object conforms, so formatting reads values in place instead of copying them into a record;
/// it must therefore run on the stream's event loop before the stream is reused.
public protocol StreamInfo: AnyObject {
    /// Wall-clock time the first byte of the request arrived, in nanoseconds since 1970.
    var startTimeNanos: Int64 { get }
    /// A request header by lower-case name, or a pseudo-header: `:method`, `:path`, `:authority`,
    /// `:scheme`. Several values of one header are joined with ",". nil when absent.
    func requestHeader(_ name: String) -> String?
    /// A response header by lower-case name, or `:status`. nil when absent or no response yet.
    func responseHeader(_ name: String) -> String?
    func responseTrailer(_ name: String) -> String?
    /// "HTTP/1.1", "HTTP/1.0", "HTTP/2"; nil before a request line was parsed.
    var protocolName: String? { get }
    /// nil when no response was sent (access log prints 0).
    var responseCode: Int? { get }
    /// Envoy's response code details, e.g. "via_upstream", "route_not_found".
    var responseCodeDetails: String? { get }
    var responseFlags: ResponseFlags { get }
    /// The flags in the order they were set, as Envoy 1.40 prints them (`URX,UF`); by default
    /// in table order.
    var orderedResponseFlags: [ResponseFlags] { get }
    /// Request body bytes received from downstream.
    var bytesReceived: UInt64 { get }
    /// Response body bytes sent downstream.
    var bytesSent: UInt64 { get }
    var requestHeadersBytes: UInt64 { get }
    var responseHeadersBytes: UInt64 { get }
    /// Start until the last response byte was sent; nil if the stream is not done.
    var totalDuration: Duration? { get }
    /// Start until the last request byte was received.
    var requestCompleteDuration: Duration? { get }
    /// Start until the first upstream response byte.
    var firstUpstreamByteDuration: Duration? { get }
    /// Start until the first and the last response byte were sent downstream.
    var firstDownstreamTxByteDuration: Duration? { get }
    var lastDownstreamTxByteDuration: Duration? { get }
    /// Start until the last request byte was sent upstream.
    var lastUpstreamTxByteDuration: Duration? { get }
    /// "10.0.0.1:8080".
    var upstreamHost: String? { get }
    var upstreamCluster: String? { get }
    var upstreamLocalAddress: String? { get }
    var upstreamTransportFailureReason: String? { get }
    var upstreamProtocol: String? { get }
    var upstreamConnectionID: UInt64? { get }
    /// "127.0.0.1:51234" (after x-forwarded-for processing, as Envoy's "remote" address).
    var downstreamRemoteAddress: String? { get }
    /// The peer address of the TCP connection.
    var downstreamDirectRemoteAddress: String? { get }
    var downstreamLocalAddress: String? { get }
    var routeName: String? { get }
    /// The body of a local reply before local_reply_config rewrote it.
    var localReplyBody: String? { get }
    var upstreamRequestAttemptCount: Int { get }
    var connectionID: UInt64 { get }
    /// The request id (x-request-id) of this stream.
    var streamID: String? { get }
    var requestedServerName: String? { get }
    /// True for requests a health check filter recognised (`not_health_check_filter`).
    var isHealthCheckRequest: Bool { get }
    /// TLS facts of the downstream connection (nil on plain TCP): the peer certificate's URI SANs
    /// joined with ",", its subject (RFC 2253), and the version ("TLSv1.3").
    var downstreamPeerURISAN: String? { get }
    var downstreamPeerSubject: String? { get }
    var downstreamTLSVersion: String? { get }
}

extension StreamInfo {
    public var isHealthCheckRequest: Bool { false }
    public var downstreamPeerURISAN: String? { nil }
    public var downstreamPeerSubject: String? { nil }
    public var downstreamTLSVersion: String? { nil }
    public var orderedResponseFlags: [ResponseFlags] { responseFlags.inTableOrder }
}

/// Response flags together with the order they were set in. Envoy keeps its flags in a list and
/// prints them in that order; the bitset alone would print them in table order.
public struct OrderedResponseFlags: Sendable {
    public private(set) var all = ResponseFlags()
    /// Bit indices in insertion order, 5 bits each, up to 12 flags (more than any request sets).
    private var order: UInt64 = 0
    private var count = 0

    public init() {}

    public mutating func insert(_ flag: ResponseFlags) {
        guard !all.contains(flag) else { return }
        all.insert(flag)
        if count < 12 {
            order |= UInt64(flag.rawValue.trailingZeroBitCount) << UInt64(5 * count)
            count += 1
        }
    }

    public func contains(_ flag: ResponseFlags) -> Bool { all.contains(flag) }
    public var isEmpty: Bool { all.isEmpty }

    public var inOrder: [ResponseFlags] {
        (0..<count).map { ResponseFlags(rawValue: 1 << UInt32((order >> UInt64(5 * $0)) & 0x1F)) }
    }
}

/// Envoy's response flags: why a response is what it is. Short names appear in access logs
/// (`%RESPONSE_FLAGS%`), long names in `%RESPONSE_FLAGS_LONG%`.
public struct ResponseFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let failedLocalHealthCheck = ResponseFlags(rawValue: 1 << 0)        // LH
    public static let noHealthyUpstream = ResponseFlags(rawValue: 1 << 1)             // UH
    public static let upstreamRequestTimeout = ResponseFlags(rawValue: 1 << 2)        // UT
    public static let localReset = ResponseFlags(rawValue: 1 << 3)                    // LR
    public static let upstreamRemoteReset = ResponseFlags(rawValue: 1 << 4)           // UR
    public static let upstreamConnectionFailure = ResponseFlags(rawValue: 1 << 5)     // UF
    public static let upstreamConnectionTermination = ResponseFlags(rawValue: 1 << 6) // UC
    public static let upstreamOverflow = ResponseFlags(rawValue: 1 << 7)              // UO
    public static let noRouteFound = ResponseFlags(rawValue: 1 << 8)                  // NR
    public static let delayInjected = ResponseFlags(rawValue: 1 << 9)                 // DI
    public static let faultInjected = ResponseFlags(rawValue: 1 << 10)                // FI
    public static let rateLimited = ResponseFlags(rawValue: 1 << 11)                  // RL
    public static let unauthorizedExternalService = ResponseFlags(rawValue: 1 << 12)  // UAEX
    public static let rateLimitServiceError = ResponseFlags(rawValue: 1 << 13)        // RLSE
    public static let downstreamConnectionTermination = ResponseFlags(rawValue: 1 << 14) // DC
    public static let upstreamRetryLimitExceeded = ResponseFlags(rawValue: 1 << 15)   // URX
    public static let streamIdleTimeout = ResponseFlags(rawValue: 1 << 16)            // SI
    public static let invalidEnvoyRequestHeaders = ResponseFlags(rawValue: 1 << 17)   // IH
    public static let downstreamProtocolError = ResponseFlags(rawValue: 1 << 18)      // DPE
    public static let upstreamMaxStreamDurationReached = ResponseFlags(rawValue: 1 << 19) // UMSDR
    public static let responseFromCacheFilter = ResponseFlags(rawValue: 1 << 20)      // RFCF
    public static let noFilterConfigFound = ResponseFlags(rawValue: 1 << 21)          // NFCF
    public static let durationTimeout = ResponseFlags(rawValue: 1 << 22)              // DT
    public static let upstreamProtocolError = ResponseFlags(rawValue: 1 << 23)        // UPE
    public static let noClusterFound = ResponseFlags(rawValue: 1 << 24)               // NC
    public static let overloadManager = ResponseFlags(rawValue: 1 << 25)              // OM
    public static let dnsResolutionFailed = ResponseFlags(rawValue: 1 << 26)          // DF
    public static let dropOverload = ResponseFlags(rawValue: 1 << 27)                 // DO
    public static let downstreamRemoteReset = ResponseFlags(rawValue: 1 << 28)        // DR
    public static let unconditionalDropOverload = ResponseFlags(rawValue: 1 << 29)    // UDO
    /// Ferry: answered by a governance fallback (stale/backup/static response).
    public static let fallbackServed = ResponseFlags(rawValue: 1 << 30)               // FB

    /// In Envoy's order: (flag, short name, long name).
    public static let names: [(ResponseFlags, String, String)] = [
        (.failedLocalHealthCheck, "LH", "FailedLocalHealthCheck"),
        (.noHealthyUpstream, "UH", "NoHealthyUpstream"),
        (.upstreamRequestTimeout, "UT", "UpstreamRequestTimeout"),
        (.localReset, "LR", "LocalReset"),
        (.upstreamRemoteReset, "UR", "UpstreamRemoteReset"),
        (.upstreamConnectionFailure, "UF", "UpstreamConnectionFailure"),
        (.upstreamConnectionTermination, "UC", "UpstreamConnectionTermination"),
        (.upstreamOverflow, "UO", "UpstreamOverflow"),
        (.noRouteFound, "NR", "NoRouteFound"),
        (.delayInjected, "DI", "DelayInjected"),
        (.faultInjected, "FI", "FaultInjected"),
        (.rateLimited, "RL", "RateLimited"),
        (.unauthorizedExternalService, "UAEX", "UnauthorizedExternalService"),
        (.rateLimitServiceError, "RLSE", "RateLimitServiceError"),
        (.downstreamConnectionTermination, "DC", "DownstreamConnectionTermination"),
        (.upstreamRetryLimitExceeded, "URX", "UpstreamRetryLimitExceeded"),
        (.streamIdleTimeout, "SI", "StreamIdleTimeout"),
        (.invalidEnvoyRequestHeaders, "IH", "InvalidEnvoyRequestHeaders"),
        (.downstreamProtocolError, "DPE", "DownstreamProtocolError"),
        (.upstreamMaxStreamDurationReached, "UMSDR", "UpstreamMaxStreamDurationReached"),
        (.responseFromCacheFilter, "RFCF", "ResponseFromCacheFilter"),
        (.noFilterConfigFound, "NFCF", "NoFilterConfigFound"),
        (.durationTimeout, "DT", "DurationTimeout"),
        (.upstreamProtocolError, "UPE", "UpstreamProtocolError"),
        (.noClusterFound, "NC", "NoClusterFound"),
        (.overloadManager, "OM", "OverloadManagerTerminated"),
        (.dnsResolutionFailed, "DF", "DnsResolutionFailed"),
        (.dropOverload, "DO", "DropOverload"),
        (.downstreamRemoteReset, "DR", "DownstreamRemoteReset"),
        (.unconditionalDropOverload, "UDO", "UnconditionalDropOverload"),
        (.fallbackServed, "FB", "FallbackServed"),
    ]

    /// Each set flag alone, in Envoy's table order.
    public var inTableOrder: [ResponseFlags] { Self.names.map(\.0).filter { contains($0) } }

    /// "UH,UF" or "-" when empty, as Envoy prints `%RESPONSE_FLAGS%`.
    public var shortString: String {
        if isEmpty { return "-" }
        return Self.names.filter { contains($0.0) }.map(\.1).joined(separator: ",")
    }

    public var longString: String {
        if isEmpty { return "-" }
        return Self.names.filter { contains($0.0) }.map(\.2).joined(separator: ",")
    }

    public static func named(_ short: String) -> ResponseFlags? { names.first { $0.1 == short }?.0 }
}
