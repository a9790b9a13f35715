import FerryTelemetry
import NIOCore

/// What access logs and format strings can read about the stream.
extension ActiveStream: StreamInfo {
    var startTimeNanos: Int64 { startedWallNanos }

    func requestHeader(_ name: String) -> String? {
        // A request the codec refused never reached the connection manager: Envoy logs "-".
        guard !codecRefused else { return nil }
        switch name {
        case ":method": return request.method.isEmpty ? nil : request.method
        case ":path": return request.path.isEmpty ? nil : request.path
        case ":authority", "host": return request.authority
        case ":scheme": return request.scheme
        // Envoy's %REQ()% prints the first value of a repeated header.
        default: return request.headers.first(name)
        }
    }

    func responseHeader(_ name: String) -> String? {
        if name == ":status" { return responseHead.map { String($0.status) } }
        return responseHead?.headers.first(name)
    }

    func responseTrailer(_ name: String) -> String? { responseTrailers?.joined(name) }

    var protocolName: String? { codecRefused ? HTTPVersion.http11.description : request.version.description }
    var responseCode: Int? { pendingLocalStatus ?? responseHead?.status }
    var responseCodeDetails: String? { details }
    var responseFlags: ResponseFlags { flags.all }
    var orderedResponseFlags: [ResponseFlags] { flags.inOrder }
    var bytesReceived: UInt64 { bodyBytesReceived }
    var bytesSent: UInt64 { bodyBytesSent }

    private func since(_ deadline: NIODeadline?) -> Duration? {
        deadline.map { .nanoseconds(($0 - started).nanoseconds) }
    }

    var totalDuration: Duration? { since(finishedAt) }
    var requestCompleteDuration: Duration? { since(requestEndedAt) }
    var firstUpstreamByteDuration: Duration? { since(firstUpstreamByteAt) }
    var firstDownstreamTxByteDuration: Duration? { since(firstTxAt) }
    var lastDownstreamTxByteDuration: Duration? { responseEnded ? since(lastTxAt) : nil }
    var lastUpstreamTxByteDuration: Duration? { since(lastUpstreamTxAt) }
    var upstreamHost: String? { host?.addressString }
    var upstreamCluster: String? { cluster?.definition.name }
    var upstreamLocalAddress: String? { upstreamLocal }
    var upstreamTransportFailureReason: String? { upstreamFailureReason }
    var upstreamProtocol: String? { host == nil ? nil : (upstreamCodec == .http2 ? "HTTP/2" : "HTTP/1.1") }
    var upstreamConnectionID: UInt64? { nil }
    var downstreamRemoteAddress: String? { downstreamRemote ?? connection.remoteString }
    var downstreamDirectRemoteAddress: String? { connection.remoteString }
    var downstreamLocalAddress: String? { connection.localString }
    var downstreamPeerURISAN: String? { connection.tls?.peerURISANs }
    var downstreamPeerSubject: String? { connection.tls?.peerSubject }
    var downstreamTLSVersion: String? { connection.tls?.version }
    var routeName: String? { route?.name.isEmpty == false ? route?.name : nil }
    var localReplyBody: String? { localBody }
    var upstreamRequestAttemptCount: Int { attemptCount }
    var connectionID: UInt64 { connection.id }
    var streamID: String? { request.headers.first("x-request-id") }
    var requestedServerName: String? { nil }
    var isHealthCheckRequest: Bool { isHealthCheck }
}
