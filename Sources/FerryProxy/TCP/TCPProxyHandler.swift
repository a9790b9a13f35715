import FerryTelemetry
import NIOCore

/// `envoy.filters.network.tcp_proxy` on one downstream connection: connects to a host of the
/// cluster (`TCPProxyHandler+Connect`) and then moves bytes both ways until both sides are done.
///
/// Owned by the connection's loop, like the upstream connection it opens. Memory per direction
/// is bounded by the write buffer watermarks: a side is read only while the other side's
/// channel is writable, and the downstream is not read at all until the upstream is connected.
/// A half-close (FIN) is passed on to the other side, and the session ends once both
/// directions have ended, or either side closes or resets, as Envoy's tcp_proxy does.
final class TCPProxyHandler: ChannelDuplexHandler, NIOScheduledCallbackHandler, DownstreamConnection, DeferredFlushing {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    unowned(unsafe) let worker: Worker
    let listener: CompiledListener
    let proxy: CompiledTcpProxy
    let serverName: String
    private let admission: ListenerConnections
    var context: ChannelHandlerContext?
    var info: DownstreamConnectionInfo!

    // Upstream state (TCPProxyHandler+Connect).
    var cluster: WorkerCluster?
    var host: UpstreamHost?
    var upstream: TCPProxyUpstreamHandler?
    var attempts = 0
    /// Downstream bytes that arrived before the upstream connected.
    var early: ByteBuffer?

    var downstreamInputClosed = false
    var upstreamInputClosed = false
    var closing = false
    private var pendingRead = false
    private(set) var downstreamWritable = true
    private var flowPaused = false

    // For the access log and timers.
    let started: NIODeadline
    let startedWallNanos: Int64
    var finishedAt: NIODeadline?
    var lastActivity: NIODeadline
    var bytesFromDownstream: UInt64 = 0
    var bytesToDownstream: UInt64 = 0
    var flags = OrderedResponseFlags()
    var failureReason: String?
    var upstreamLocal: String?
    private var timer: NIOScheduledCallback?

    init(worker: Worker, listener: CompiledListener, proxy: CompiledTcpProxy, serverName: String) {
        self.worker = worker
        self.listener = listener
        self.proxy = proxy
        self.serverName = serverName
        admission = listener.connections
        worker.tick()
        started = worker.now
        startedWallNanos = worker.clock.wallNanos(at: started)
        lastActivity = started
    }

    var listenerName: String { listener.name }
    var shard: StatsShard { worker.stats }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        info = DownstreamConnectionInfo(id: worker.server.nextConnectionID(), remote: context.channel.remoteAddress,
                                        local: context.channel.localAddress)
        shard.inc(listener.stats.cxTotal)
        shard.add(listener.stats.cxActive, 1)
        shard.inc(proxy.stats.cxTotal)
        worker.connections[ObjectIdentifier(self)] = self
        armTimer()
        connectUpstream()
    }

    func channelInactive(context: ChannelHandlerContext) {
        worker.tick()
        closing = true
        finishedAt = worker.now
        shard.add(listener.stats.cxActive, -1)
        shard.inc(listener.stats.cxDestroy)
        worker.connections[ObjectIdentifier(self)] = nil
        admission.release()
        timer?.cancel()
        timer = nil
        upstream?.closeAfterFlush()
        for log in proxy.accessLogs where log.filter.map({ AccessLogFilterEvaluator.matches($0, self) }) ?? true {
            log.sink.write(log.formatter.format(self))
        }
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
        early = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    /// A TCP session has no request boundary to close at: a drain leaves it to its peers, its
    /// timeouts, or the shutdown at the end of the drain time.
    func closeIfIdle() {}

    // MARK: downstream → upstream

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        worker.tick()
        lastActivity = worker.now
        let bytes = unwrapInboundIn(data)
        bytesFromDownstream += UInt64(bytes.readableBytes)
        shard.inc(proxy.stats.cxRxBytes, by: UInt64(bytes.readableBytes))
        if let upstream {
            upstream.write(bytes)
        } else if early == nil {
            early = bytes
        } else {
            var bytes = bytes
            early!.writeBuffer(&bytes)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        upstream?.flush()
    }

    /// Reads only while the upstream is connected and can take more (the bound on memory).
    func read(context: ChannelHandlerContext) {
        if upstream?.isWritable == true, !closing {
            context.read()
        } else {
            pendingRead = true
        }
    }

    func resumeDownstreamReading() {
        if flowPaused {
            flowPaused = false
            shard.inc(proxy.stats.flowResumed)
        }
        guard pendingRead, upstream?.isWritable == true, !closing else { return }
        pendingRead = false
        context?.read()
    }

    func pauseDownstreamReading() {
        guard !flowPaused else { return }
        flowPaused = true
        shard.inc(proxy.stats.flowPaused)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case ChannelEvent.inputClosed = event else { return context.fireUserInboundEventTriggered(event) }
        downstreamInputClosed = true
        upstream?.shutdownOutputAfterFlush()
        if upstreamInputClosed { closeAfterFlush() }
    }

    // MARK: upstream → downstream

    func writeDownstream(_ bytes: ByteBuffer) {
        guard let context else { return }
        worker.tick()
        lastActivity = worker.now
        bytesToDownstream += UInt64(bytes.readableBytes)
        shard.inc(proxy.stats.cxTxBytes, by: UInt64(bytes.readableBytes))
        context.write(wrapOutboundOut(bytes), promise: nil)
    }

    /// At the end of the event-loop iteration (`Worker.flushAtEndOfIteration`).
    func flushDownstream() { flush(atEndOfIterationOf: worker) }

    var flushQueued = false
    func flushNow() { context?.flush() }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        downstreamWritable = context.channel.isWritable
        if downstreamWritable { upstream?.resumeReading() }
        context.fireChannelWritabilityChanged()
    }

    /// The upstream sent FIN: pass it on once its bytes are written.
    func upstreamEnded() {
        upstreamInputClosed = true
        if downstreamInputClosed { return closeAfterFlush() }
        context?.close(afterFlushing: .output)
    }

    // MARK: closing and timers

    /// Closes the downstream once what was written to it is sent.
    func closeAfterFlush() {
        guard let context, !closing else { return }
        closing = true
        context.close(afterFlushing: .all)
    }

    /// Closes both sides at once (timeouts), dropping what is not sent yet.
    func closeNow() {
        closing = true
        upstream?.closeNow()
        context?.close(promise: nil)
    }

    private func armTimer() {
        var next: NIODeadline?
        if let idle = proxy.idleTimeout, upstream != nil { next = lastActivity + idle }
        if let max = proxy.maxDuration { next = min(next ?? started + max, started + max) }
        timer?.cancel()
        timer = next.flatMap { try? worker.loop.assumeIsolated().scheduleCallback(at: $0, handler: self) }
    }

    /// Called once the upstream is connected: the idle timeout starts counting then (as Envoy).
    func startIdleTimer() { armTimer() }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        guard !closing else { return }
        let now = eventLoop.now
        if let max = proxy.maxDuration, started + max <= now {
            shard.inc(proxy.stats.maxDurationReached)
            return closeNow()
        }
        if let idle = proxy.idleTimeout, upstream != nil, lastActivity + idle <= now {
            shard.inc(proxy.stats.idleTimeout)
            return closeNow()
        }
        armTimer()
    }
}
