import NIOCore

/// One upstream request as the router drives it, whatever the codec: an HTTP/1.1 connection
/// (`UpstreamHTTP1Connection`, one request at a time) or one HTTP/2 stream
/// (`UpstreamHTTP2Stream`, many per connection). The response comes back through the stream's
/// `onUpstreamHeaders` / `onUpstreamData` / `onUpstreamComplete(trailers:)` / `onUpstreamReset`.
///
/// Requests keep HTTP/1 form inside Ferry (method, path and authority in `RequestHead`); each
/// codec writes them its own way.
protocol UpstreamStream: AnyObject {
    func sendHeaders(_ head: RequestHead, endStream: Bool)
    func sendData(_ data: ByteBuffer, endStream: Bool)
    /// Raw bytes after an upgrade (HTTP/1 only; an HTTP/2 upstream never answers 101).
    func sendTunnel(_ data: ByteBuffer)
    /// The downstream ended its side of the tunnel: half-close towards the upstream (a TCP
    /// FIN); the tunnel ends when the upstream closes too.
    func endTunnel()
    func flush()
    /// Whether more request body may be written now (socket or stream flow-control window).
    var isWritable: Bool { get }
    /// Stop and resume delivering response bytes (downstream backpressure).
    func pauseReading()
    func resumeReading()
    /// The local address of the upstream connection, for `%UPSTREAM_LOCAL_ADDRESS%`.
    var localAddress: String? { get }
    /// The response ended: hand the connection (or stream slot) back to its pool when the
    /// request ended too (`requestEnded`), else give it up.
    func complete(requestEnded: Bool)
    /// The stream gave up on this request (timeout, downstream reset, retried response).
    func abort()
}

/// A per-host, per-loop upstream connection pool: HTTP/1.1 (`HTTP1ConnectionPool`) or HTTP/2
/// (`HTTP2ConnectionPool`). `newStream` answers through the stream's `onPoolReady`,
/// `onPoolFailure` or `onPoolOverflow`.
protocol UpstreamPool: AnyObject {
    var host: UpstreamHost { get }
    /// Per-host counters for `/clusters` (this loop's share).
    var counters: HostCounters { get set }
    /// Where this host's results go for outlier detection (nil without `outlier_detection`).
    var outlier: OutlierHostMonitor? { get set }
    func newStream(_ stream: ActiveStream)
    /// The stream finished while waiting for a connection.
    func cancel(_ stream: ActiveStream)
    /// Close idle connections and stop reusing busy ones.
    func drain()
    /// Requests attached, connections opening and requests waiting (LEAST_REQUEST's measure).
    var load: Int { get }
    /// Requests on connections, and connections open (for `/clusters`).
    var activeRequests: Int { get }
    var openConnections: Int { get }
}

/// The HTTP codec one upstream request uses.
enum UpstreamCodec {
    case http1
    case http2
}
