import FerryTelemetry
import NIOCore
import NIOHTTP2

/// The connection half of a downstream HTTP/2 connection: the first handler of its pipeline,
/// in front of `NIOHTTP2Handler` (frames, HPACK, the connection state machine), with
/// `connection_keepalive` `HTTP2KeepaliveHandler`, and last `DownstreamHTTP2Session` (the
/// streams, idle close, the graceful GOAWAY of a drain). It counts the connection and its bytes, hands streams the connection facts and
/// the connection manager of the generation current when each stream opens, and drains the
/// connection with a graceful GOAWAY.
final class DownstreamHTTP2Connection: ChannelDuplexHandler, DownstreamConnection {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    unowned(unsafe) let worker: Worker
    private var binding: ConnectionManagerBinding
    var listenerName: String { binding.listenerName }
    private var hcm: CompiledHCM { binding.hcm }
    var hcmStats: HCMStats { binding.hcm.stats }
    private let admission: ListenerConnections
    private let tls: DownstreamTLSInfo?
    private(set) var info: DownstreamConnectionInfo!
    private var context: ChannelHandlerContext?
    private var streamsOpened = 0
    /// Streams whose `ActiveStream` has not finished yet.
    var activeStreams = 0
    private var draining = false
    private var closedLocally = false

    init(worker: Worker, listener: CompiledListener, chain: CompiledFilterChain, hcm: CompiledHCM, tls: DownstreamTLSInfo?) {
        self.worker = worker
        binding = ConnectionManagerBinding(listener: listener, chain: chain, hcm: hcm)
        admission = listener.connections
        self.tls = tls
    }

    private var shard: StatsShard { worker.stats }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        worker.tick()
        info = DownstreamConnectionInfo(id: worker.server.nextConnectionID(), remote: context.channel.remoteAddress,
                                        local: context.channel.localAddress, tls: tls)
        info.httpProtocol = .http2
        binding.countOpened(shard, http2: true)
        worker.connections[ObjectIdentifier(self)] = self
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        worker.tick()
        binding.countClosed(shard, http2: true, local: closedLocally || draining)
        if activeStreams > 0 { shard.inc(hcm.stats.cxDestroyActiveRq) }
        worker.connections[ObjectIdentifier(self)] = nil
        admission.release()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        worker.tick()
        shard.inc(hcm.stats.cxRxBytes, by: UInt64(unwrapInboundIn(data).readableBytes))
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        shard.inc(hcm.stats.cxTxBytes, by: UInt64(unwrapOutboundIn(data).readableBytes))
        context.write(data, promise: promise)
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        closedLocally = true
        context.close(mode: mode, promise: promise)
    }

    // MARK: streams

    /// A stream opened: the listener and connection manager it runs under (each stream takes
    /// the generation current when it arrives, as HTTP/1 requests do).
    func streamOpened() -> (CompiledListener, CompiledHCM) {
        streamsOpened += 1
        activeStreams += 1
        if !binding.refresh(on: worker) { drain() }  // the listener or its chain left with a reload
        if let max = hcm.config.maxRequestsPerConnection, streamsOpened >= max { drain() }
        if worker.server.isDraining || worker.server.healthCheckFailed { drain() }
        return (binding.listener, hcm)
    }

    func streamFinished() { activeStreams -= 1 }

    /// `http2.<flood>`: the connection broke a flood limit and is being closed.
    func countFlood(_ flood: HTTP2Flood) {
        if let counter = hcmStats.http2?.counter(flood) { shard.inc(counter) }
    }

    /// `http2.keepalive_timeout`: a keepalive PING went unanswered and the connection is being closed.
    func countKeepaliveTimeout() {
        if let counter = hcmStats.http2?.keepaliveTimeout { shard.inc(counter) }
    }

    /// Drain (listener drain, reload, max_requests_per_connection): a graceful GOAWAY, then the
    /// connection closes once its streams are done (`DownstreamHTTP2Session.startGracefulClose`).
    func drain() {
        guard !draining, let context else { return }
        draining = true
        shard.inc(hcm.stats.cxDrainClose)
        context.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }

    func closeIfIdle() { drain() }

    /// Closes once everything written before has gone to the socket.
    func closeAfterFlush() { context?.close(afterFlushing: .all) }
}
