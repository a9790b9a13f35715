import FerryTelemetry
import NIOCore

/// What a tcp_proxy access log reads about the connection, as Envoy's L4 stream info: bytes
/// each way, the duration of the connection, the upstream host and cluster, response flags.
/// HTTP fields (headers, status, protocol) are absent and print "-" (or 0 for the status).
extension TCPProxyHandler: StreamInfo {
    var startTimeNanos: Int64 { startedWallNanos }
    func requestHeader(_ name: String) -> String? { nil }
    func responseHeader(_ name: String) -> String? { nil }
    func responseTrailer(_ name: String) -> String? { nil }
    var protocolName: String? { nil }
    var responseCode: Int? { nil }
    var responseCodeDetails: String? { nil }
    var responseFlags: ResponseFlags { flags.all }
    var orderedResponseFlags: [ResponseFlags] { flags.inOrder }
    var bytesReceived: UInt64 { bytesFromDownstream }
    var bytesSent: UInt64 { bytesToDownstream }
    var requestHeadersBytes: UInt64 { 0 }
    var responseHeadersBytes: UInt64 { 0 }

    private func since(_ deadline: NIODeadline?) -> Duration? {
        deadline.map { .nanoseconds(($0 - started).nanoseconds) }
    }

    var totalDuration: Duration? { since(finishedAt) }
    var requestCompleteDuration: Duration? { nil }
    var firstUpstreamByteDuration: Duration? { nil }
    var firstDownstreamTxByteDuration: Duration? { nil }
    var lastDownstreamTxByteDuration: Duration? { nil }
    var lastUpstreamTxByteDuration: Duration? { nil }
    var upstreamHost: String? { host?.addressString }
    var upstreamCluster: String? { cluster?.definition.name }
    var upstreamLocalAddress: String? { upstreamLocal }
    var upstreamTransportFailureReason: String? { failureReason }
    var upstreamProtocol: String? { nil }
    var upstreamConnectionID: UInt64? { nil }
    var downstreamRemoteAddress: String? { info?.remoteString }
    var downstreamDirectRemoteAddress: String? { info?.remoteString }
    var downstreamLocalAddress: String? { info?.localString }
    var routeName: String? { nil }
    var localReplyBody: String? { nil }
    var upstreamRequestAttemptCount: Int { attempts }
    var connectionID: UInt64 { info?.id ?? 0 }
    var streamID: String? { nil }
    var requestedServerName: String? { serverName.isEmpty ? nil : serverName }
}
