import NIOCore

/// The downstream side of one stream, as the stream sees it. The HTTP/1 connection handler
/// implements it today; an HTTP/2 stream channel will implement the same calls, so routing,
/// filters and the router do not depend on the protocol.
protocol StreamEncoder: AnyObject {
    /// Sends the response head. The codec chooses framing (content-length, chunked, or close).
    func encodeHeaders(_ head: ResponseHead, for stream: ActiveStream)
    func encodeData(_ data: ByteBuffer, for stream: ActiveStream)
    /// Ends the response; HTTP/1 drops trailers (as Envoy does by default).
    func encodeEnd(trailers: HeaderMap?, for stream: ActiveStream)
    /// Raw bytes after a protocol upgrade (101).
    func encodeTunnel(_ data: ByteBuffer)
    func flush()
    var isWritable: Bool { get }
    /// Abort the stream (HTTP/1: close the connection).
    func resetStream(_ stream: ActiveStream)
    /// The stream can take request body now (its upstream is connected and writable).
    func resumeRequestBody()
    /// Stop delivering request body (upstream not writable or not connected yet).
    func pauseRequestBody()
    /// The connection must close after this response (local reply before the request ended).
    func closeAfterResponse()
    /// The stream finished; the codec may start the next one.
    func streamFinished(_ stream: ActiveStream)
}

/// The HTTP version a downstream connection speaks.
enum DownstreamProtocol {
    case http1
    case http2
}

/// Facts about the downstream connection shared by its streams.
final class DownstreamConnectionInfo {
    let id: UInt64
    let remoteAddress: NIOCore.SocketAddress?
    let localAddress: NIOCore.SocketAddress?
    let remoteString: String?
    let localString: String?
    let remoteIP: String?
    /// TLS version and peer certificate facts; nil on plain TCP.
    let tls: DownstreamTLSInfo?
    /// Per-connection state of filters that keep some (a per-connection rate limit bucket), by
    /// the filter config's identity.
    var filterState: [ObjectIdentifier: AnyObject] = [:]
    /// The downstream codec (`use_downstream_protocol_config` picks the upstream one from it).
    var httpProtocol: DownstreamProtocol = .http1

    init(id: UInt64, remote: NIOCore.SocketAddress?, local: NIOCore.SocketAddress?, tls: DownstreamTLSInfo? = nil) {
        self.id = id
        self.tls = tls
        remoteAddress = remote
        localAddress = local
        remoteString = remote.map(UpstreamHost.format)
        localString = local.map(UpstreamHost.format)
        remoteIP = remote?.ipAddress
    }
}
