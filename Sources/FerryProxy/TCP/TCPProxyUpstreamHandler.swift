import FerryTelemetry
import NIOCore

/// The upstream side of a tcp_proxy session: bytes from the host go to the session's
/// downstream, bytes from the session go to the host. Reads only while the downstream can take
/// more. Holds its session until the connection closes (then the pair lets go of each other).
final class TCPProxyUpstreamHandler: ChannelDuplexHandler, DeferredFlushing {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var session: TCPProxyHandler?
    var context: ChannelHandlerContext?
    var stats: ClusterStats?
    private var pendingRead = false
    private var writable = true
    /// Closed by Ferry (downstream gone, timeout), not by the host.
    private(set) var closedLocally = false

    var isWritable: Bool { writable && context != nil }
    private var shard: StatsShard? { session?.worker.stats }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    // MARK: session → host

    func write(_ bytes: ByteBuffer) {
        guard let context else { return }
        if let stats { shard?.inc(stats.upstreamCxTxBytesTotal, by: UInt64(bytes.readableBytes)) }
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    /// At the end of the event-loop iteration (`Worker.flushAtEndOfIteration`), as the HTTP
    /// connections do.
    func flush() { flush(atEndOfIterationOf: session?.worker) }

    var flushQueued = false
    func flushNow() { context?.flush() }

    /// The downstream sent FIN: send one to the host once the bytes before it are written.
    func shutdownOutputAfterFlush() {
        context?.close(afterFlushing: .output)
    }

    func closeAfterFlush() {
        closedLocally = true
        context?.close(afterFlushing: .all)
    }

    func closeNow() {
        closedLocally = true
        context?.close(promise: nil)
    }

    // MARK: host → session

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if let stats { shard?.inc(stats.upstreamCxRxBytesTotal, by: UInt64(bytes.readableBytes)) }
        session?.writeDownstream(bytes)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        session?.flushDownstream()
    }

    /// Reads only once the session took the connection, and while its downstream can take more.
    func read(context: ChannelHandlerContext) {
        if session?.downstreamWritable != true {
            pendingRead = true
        } else {
            context.read()
        }
    }

    func resumeReading() {
        guard pendingRead else { return }
        pendingRead = false
        context?.read()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        if writable { session?.resumeDownstreamReading() } else { session?.pauseDownstreamReading() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        session?.upstreamEnded()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let session = self.session
        self.session = nil
        session?.upstreamClosed(self)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
