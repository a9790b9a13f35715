import FerryTelemetry

#if canImport(Glibc)
import Glibc
#endif

/// What the admin access log knows about an admin request.
final class AdminStreamInfo: StreamInfo {
    let request: AdminRequest
    let status: Int
    let bytes: UInt64
    let start: Int64

    init(request: AdminRequest, status: Int, bytes: UInt64) {
        self.request = request
        self.status = status
        self.bytes = bytes
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        start = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    var startTimeNanos: Int64 { start }
    func requestHeader(_ name: String) -> String? {
        switch name {
        case ":method": request.method.rawValue
        case ":path": request.path
        default: nil
        }
    }
    func responseHeader(_ name: String) -> String? { nil }
    func responseTrailer(_ name: String) -> String? { nil }
    var protocolName: String? { "HTTP/1.1" }
    var responseCode: Int? { status }
    var responseCodeDetails: String? { "admin_filter_response" }
    var responseFlags: ResponseFlags { [] }
    var bytesReceived: UInt64 { UInt64(request.body.utf8.count) }
    var bytesSent: UInt64 { bytes }
    var requestHeadersBytes: UInt64 { 0 }
    var responseHeadersBytes: UInt64 { 0 }
    var totalDuration: Duration? { .zero }
    var requestCompleteDuration: Duration? { .zero }
    var firstUpstreamByteDuration: Duration? { nil }
    var firstDownstreamTxByteDuration: Duration? { .zero }
    var lastDownstreamTxByteDuration: Duration? { .zero }
    var lastUpstreamTxByteDuration: Duration? { nil }
    var upstreamHost: String? { nil }
    var upstreamCluster: String? { nil }
    var upstreamLocalAddress: String? { nil }
    var upstreamTransportFailureReason: String? { nil }
    var upstreamProtocol: String? { nil }
    var upstreamConnectionID: UInt64? { nil }
    var downstreamRemoteAddress: String? { nil }
    var downstreamDirectRemoteAddress: String? { nil }
    var downstreamLocalAddress: String? { nil }
    var routeName: String? { nil }
    var localReplyBody: String? { nil }
    var upstreamRequestAttemptCount: Int { 0 }
    var connectionID: UInt64 { 0 }
    var streamID: String? { nil }
    var requestedServerName: String? { nil }
}
