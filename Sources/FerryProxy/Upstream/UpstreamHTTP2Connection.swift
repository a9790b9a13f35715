import FerryConfig
import FerryTelemetry
import NIOCore
import NIOHTTP2

/// One HTTP/2 connection to an upstream host: sits after `NIOHTTP2Handler` (inline
/// multiplexer) and sees the connection-level frames. It knows how many streams it carries,
/// the peer's SETTINGS_MAX_CONCURRENT_STREAMS, whether a GOAWAY arrived (then no new streams;
/// the ones in flight finish, then it closes), the idle timeout and the keepalive PINGs.
final class UpstreamHTTP2Connection: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    /// Set once connected; cleared when the connection closes (breaking the pool's cycle).
    var pool: HTTP2ConnectionPool?
    var countedActive = false
    private var context: ChannelHandlerContext?
    private var multiplexer: NIOHTTP2Handler.StreamMultiplexer?
    private let options: Http2ProtocolOptions
    /// `http` or `https` (`:scheme` of every request).
    let scheme: String
    private(set) var ready = false
    private var peerMaxStreams = Int(UInt32.max)
    private(set) var goingAway = false
    /// The last stream the peer's GOAWAY says it processed.
    private var goAwayLastStreamID: HTTP2StreamID?
    private var closed = false
    private(set) var openStreams = 0
    private(set) var streamsOpened = 0
    private var idleTimer: Scheduled<Void>?
    private var keepaliveTimer: Scheduled<Void>?
    private var keepaliveTimeout: Scheduled<Void>?
    private var localAddressText: String?

    init(options: Http2ProtocolOptions, scheme: String) {
        self.options = options
        self.scheme = scheme
    }

    /// Adds the HTTP/2 client codec and this handler to a new upstream channel (after TLS).
    static func install(on channel: Channel, options: Http2ProtocolOptions, bufferLimit: Int, scheme: String) throws {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .enablePush, value: 0),
            HTTP2Setting(parameter: .initialWindowSize, value: Int(options.initialStreamWindowSize)),
            HTTP2Setting(parameter: .headerTableSize, value: Int(options.hpackTableSize)),
        ]
        connection.targetWindowSize = Int(options.initialConnectionWindowSize)
        connection.maximumBufferedControlFrames = Int(options.maxOutboundControlFrames)
        connection.maximumSequentialEmptyDataFrames = Int(options.maxConsecutiveInboundFramesWithEmptyPayload)
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = Int(options.initialStreamWindowSize)
        // A stream stops taking request body once this much waits for the peer's window.
        stream.outboundBufferSizeHighWatermark = max(2, bufferLimit)
        stream.outboundBufferSizeLowWatermark = max(1, bufferLimit / 2)
        let codec = NIOHTTP2Handler(mode: .client, eventLoop: channel.eventLoop, connectionConfiguration: connection,
                                    streamConfiguration: stream) { pushed in
            // Push is disabled in our SETTINGS; a server-initiated stream is refused.
            pushed.close(promise: nil)
            return pushed.eventLoop.makeSucceededVoidFuture()
        }
        let handler = UpstreamHTTP2Connection(options: options, scheme: scheme)
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(UpstreamByteCounter(connection: handler))
        try operations.addHandler(HTTP2FloodGuard(limits: .init(options), isServer: false) { flood in
            handler.countFlood(flood)
        })
        try operations.addHandler(codec)
        try operations.addHandler(handler)
        handler.multiplexer = try codec.syncMultiplexer()
    }

    var localAddress: String? {
        if localAddressText == nil { localAddressText = context?.channel.localAddress.map(UpstreamHost.format) }
        return localAddressText
    }

    private var clusterStats: ClusterStats? { pool?.cluster.definition.stats }
    private var shard: StatsShard? { pool?.cluster.worker.stats }
    var worker: Worker? { pool?.cluster.worker }

    /// Whether a new stream may start here now.
    var hasRoom: Bool {
        guard ready, !goingAway, !closed else { return false }
        if let max = pool?.cluster.definition.maxRequestsPerConnection, streamsOpened >= max { return false }
        return openStreams < min(Int(options.maxConcurrentStreams), peerMaxStreams)
    }

    // MARK: streams

    /// Opens a stream for `stream`; the stream hears `onPoolReady` once its channel is active,
    /// or a reset when the stream cannot open.
    func openStream(for stream: ActiveStream) {
        openStreams += 1
        streamsOpened += 1
        idleTimer?.cancel()
        idleTimer = nil
        pingIfIdle()
        let handler = UpstreamHTTP2Stream(connection: self, stream: stream)
        guard let multiplexer, let loop = context?.eventLoop else { return handler.failToOpen() }
        let bound = NIOLoopBound(handler, eventLoop: loop)
        let promise = loop.makePromise(of: Channel.self)
        promise.futureResult.assumeIsolated().whenComplete { result in
            switch result {
            case .success: bound.value.opened()
            case .failure: bound.value.failToOpen()
            }
        }
        multiplexer.createStreamChannel(promise: promise) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(bound.value) }
        }
        if let max = pool?.cluster.definition.maxRequestsPerConnection, streamsOpened >= max, let stats = clusterStats {
            shard?.inc(stats.upstreamCxMaxRequests)
            goingAway = true
        }
    }

    /// A stream of this connection ended (its channel closed, or it never opened).
    func streamEnded() {
        openStreams -= 1
        pool?.streamEnded(on: self)
        guard openStreams == 0, !closed else { return }
        if goingAway { return close() }
        startIdleTimer()
    }

    private func startIdleTimer() {
        guard let timeout = pool?.cluster.definition.idleTimeout, let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        idleTimer = loop.scheduleTask(in: timeout) {
            let connection = bound.value
            guard connection.openStreams == 0, !connection.closed else { return }
            if let stats = connection.clusterStats { connection.shard?.inc(stats.upstreamCxIdleTimeout) }
            connection.close()
        }
    }

    // MARK: connection frames

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.payload {
        case .settings(.settings(let settings)):
            for setting in settings where setting.parameter == .maxConcurrentStreams { peerMaxStreams = setting.value }
            if !ready {
                ready = true
                startKeepalive()
                startIdleTimer()
                pool?.connectionReady(self)
            } else {
                pool?.dispatchWaiters()
            }
        case .goAway(let lastStreamID, _, _):
            // NIOHTTP2 closes the streams the peer did not process (as CANCEL); the others finish.
            goingAway = true
            goAwayLastStreamID = min(goAwayLastStreamID ?? lastStreamID, lastStreamID)
            if openStreams == 0 { close() }
        case .ping(_, ack: true):
            // As Envoy: the next keepalive PING goes one interval after this one was answered.
            guard let timeout = keepaliveTimeout else { break }
            timeout.cancel()
            keepaliveTimeout = nil
            startKeepalive()
        default:
            break
        }
    }

    /// Whether the peer sent GOAWAY: it takes no stream that is not open yet.
    var peerGoingAway: Bool { goAwayLastStreamID != nil }

    /// Whether the peer's GOAWAY left stream `id` unprocessed (safe to retry, as REFUSED_STREAM).
    func unprocessed(_ id: HTTP2StreamID) -> Bool {
        guard let last = goAwayLastStreamID else { return false }
        return id > last
    }

    /// No new streams (cluster retired or host removed); close once the open ones finished.
    func goAwayLocally() {
        goingAway = true
        if openStreams == 0 { close() }
    }

    private func startKeepalive() {
        guard let keepalive = options.keepalive, let next = keepalive.nextInterval(), let loop = context?.eventLoop else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        keepaliveTimer = loop.scheduleTask(in: TimeAmount(next)) { bound.value.sendPing(keepalive) }
    }

    /// A keepalive PING (interval or `connection_idle_interval`); the next interval PING is
    /// due one interval after its answer.
    private func sendPing(_ keepalive: Http2ProtocolOptions.Keepalive) {
        guard let context, !closed else { return }
        keepaliveTimer?.cancel()
        keepaliveTimer = nil
        context.writeAndFlush(wrapOutboundOut(HTTP2Frame(streamID: .rootStream, payload: .ping(HTTP2PingData(), ack: false))),
                              promise: nil)
        armKeepaliveTimeout(keepalive)
    }

    /// No answer (and no other frame) within `timeout` closes the connection.
    private func armKeepaliveTimeout(_ keepalive: Http2ProtocolOptions.Keepalive) {
        guard let loop = context?.eventLoop else { return }
        keepaliveTimeout?.cancel()
        let bound = NIOLoopBound(self, eventLoop: loop)
        keepaliveTimeout = loop.scheduleTask(in: TimeAmount(keepalive.timeout)) {
            let connection = bound.value
            if let counter = connection.clusterStats?.http2?.keepaliveTimeout { connection.shard?.inc(counter) }
            connection.close()
        }
    }

    /// When bytes last arrived (kept only with `connection_keepalive`).
    private var lastReceived = NIODeadline.now()

    /// `connection_idle_interval`: a stream about to open on a connection that received nothing
    /// for that long sends a PING first (unless one is already out), so a dead connection is
    /// found quickly.
    private func pingIfIdle() {
        guard let keepalive = options.keepalive, let idle = keepalive.idleInterval, keepaliveTimeout == nil,
              NIODeadline.now() - lastReceived >= TimeAmount(idle) else { return }
        sendPing(keepalive)
    }

    // MARK: bytes and lifecycle

    func count(rx bytes: Int) {
        pool?.cluster.worker.tick()
        if let keepalive = options.keepalive {
            lastReceived = .now()
            // Any frame shows the connection alive: a PING's wait for its answer starts again.
            if keepaliveTimeout != nil { armKeepaliveTimeout(keepalive) }
        }
        if let stats = clusterStats { shard?.inc(stats.upstreamCxRxBytesTotal, by: UInt64(bytes)) }
    }

    func count(tx bytes: Int) {
        if let stats = clusterStats { shard?.inc(stats.upstreamCxTxBytesTotal, by: UInt64(bytes)) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is any NIOHTTP2Error, let stats = clusterStats { shard?.inc(stats.upstreamCxProtocolError) }
        if let flood = HTTP2Flood(codecError: error) { countFlood(flood) }
        context.close(promise: nil)
    }

    /// `cluster.<name>.http2.<flood>`; the flood guard closes the connection itself.
    func countFlood(_ flood: HTTP2Flood) {
        if let counter = clusterStats?.http2?.counter(flood) { shard?.inc(counter) }
    }

    private var closedLocally = false

    /// Streams open when the connection went down (the codec closes them before this handler
    /// hears of it), for the `_with_active_rq` counters.
    private var streamsAtClose = 0

    func markClosing() {
        closed = true
        streamsAtClose = openStreams
    }

    func close() {
        guard !closed, !closedLocally else { return }
        closedLocally = true
        context?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        pool?.cluster.worker.tick()
        closed = true
        for timer in [idleTimer, keepaliveTimer, keepaliveTimeout] { timer?.cancel() }
        if let stats = clusterStats, let shard {
            shard.inc(stats.upstreamCxDestroy)
            shard.inc(closedLocally ? stats.upstreamCxDestroyLocal : stats.upstreamCxDestroyRemote)
            if countedActive { shard.add(stats.upstreamCxActive, -1) }
            if streamsAtClose > 0 {
                shard.inc(stats.upstreamCxDestroyWithActiveRq)
                shard.inc(closedLocally ? stats.upstreamCxDestroyLocalWithActiveRq : stats.upstreamCxDestroyRemoteWithActiveRq)
            }
        }
        countedActive = false
        // The streams' channels close too and report themselves (`streamEnded`) before this
        // connection leaves the pool, so the pool's counts stay right.
        let pool = self.pool
        context.fireChannelInactive()
        pool?.remove(self, wasReady: ready)
        self.pool = nil
    }
}

/// Counts the bytes of an HTTP/2 connection as Envoy's `upstream_cx_rx/tx_bytes_total` (before
/// the codec, so frame overhead counts as on the wire).
final class UpstreamByteCounter: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let connection: UpstreamHTTP2Connection

    init(connection: UpstreamHTTP2Connection) { self.connection = connection }

    func channelInactive(context: ChannelHandlerContext) {
        // Before the codec closes the streams, so that no stream is given to this connection.
        connection.markClosing()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.count(rx: unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        connection.count(tx: unwrapOutboundIn(data).readableBytes)
        context.write(data, promise: promise)
    }
}
