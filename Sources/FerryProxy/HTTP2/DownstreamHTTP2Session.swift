import NIOCore
import NIOHTTP2

/// The streams of one downstream HTTP/2 connection: the last handler of its pipeline, after
/// `NIOHTTP2Handler` (frames, HPACK, the connection state machine, outbound flow control) and
/// the management handlers. It sees every stream's frames itself and keeps a
/// `DownstreamHTTP2Stream` per open stream, instead of a child channel per stream as NIOHTTP2's
/// multiplexer would: a request then costs no channel, pipeline or promise of its own, and the
/// response frames of every stream answered during one read go out in one flush.
///
/// It does what the multiplexer did for the streams:
/// - Receive windows: it sends WINDOW_UPDATE for the connection as data arrives, and for a
///   stream only while that stream takes request body, so a stream whose upstream is not ready
///   stops its client at its window (backpressure) while the other streams go on.
/// - Send side: a stream is writable while its response bytes not yet on the socket (held by
///   NIOHTTP2 for the client's window, or queued behind a full socket) stay under 64 KiB.
/// - Flushes wait for the end of the event-loop iteration.
///
/// It also runs the connection's life (DownstreamHTTP2Session+Lifecycle.swift): `idle_timeout`
/// with no stream open, and the graceful GOAWAY of a drain. It knows when streams open and end
/// without NIOHTTP2's stream events having to pass another handler.
final class DownstreamHTTP2Session: ChannelInboundHandler, NIOHTTP2FrameDelegate, DeferredFlushing, NIOScheduledCallbackHandler {
    typealias InboundIn = HTTP2Frame
    typealias OutboundOut = HTTP2Frame

    // The connection's first handler outlives this one (the pipeline is torn down together).
    unowned(unsafe) let connection: DownstreamHTTP2Connection
    private(set) var context: ChannelHandlerContext?
    private(set) var streams: [HTTP2StreamID: DownstreamHTTP2Stream] = [:]
    /// Streams removed since the last read completed: an `ActiveStream` still has its encoder
    /// on the call stack when it finishes (it holds it unowned), so a stream is freed only at
    /// the next read's end, when no stream's code is running.
    private var retired: [DownstreamHTTP2Stream] = []
    /// Streams that received frames in the current read, told when the read completes.
    private var readStreams: [DownstreamHTTP2Stream] = []
    private(set) var parentWritable = true
    private var connectionWindow: ReceiveWindow
    /// NIOHTTP2 sent a GOAWAY with an error code: a connection error, reported next.
    private var connectionErrorSent = false
    let streamWindowTarget: Int
    /// The connection advertised SETTINGS_ENABLE_CONNECT_PROTOCOL (`allow_connect`): requests
    /// may carry `:protocol` (RFC 8441).
    let extendedConnect: Bool
    /// `stream_error_on_invalid_http_messaging`: a malformed request resets its stream only;
    /// otherwise (Envoy's default) it closes the connection.
    let streamErrorOnInvalid: Bool
    /// The highest stream a client opened: the last stream id of a GOAWAY Ferry sends itself.
    private(set) var lastClientStream = HTTP2StreamID(0)
    /// The connection manager's `idle_timeout` (nil: none) and `drain_timeout`.
    let idleTimeout: TimeAmount?
    let drainTimeout: TimeAmount
    /// Since when no stream has been open (nil while one is).
    var idleSince: NIODeadline?
    /// Where closing stands (DownstreamHTTP2Session+Lifecycle.swift). Once `.closing`, frames
    /// the client still sends are dropped and ending streams start nothing.
    var shutdown = Shutdown.open
    /// The idle and drain deadlines.
    var timer = DeadlineTimer()

    /// Response bytes a stream may have on their way before it stops reading its upstream, as
    /// the HTTP/1 socket's write watermarks (and NIOHTTP2's child channels) do.
    static let highWatermark = 64 * 1024
    static let lowWatermark = 32 * 1024

    init(connection: DownstreamHTTP2Connection, connectionWindow: Int, streamWindow: Int, extendedConnect: Bool,
         streamErrorOnInvalid: Bool, idleTimeout: TimeAmount?, drainTimeout: TimeAmount) {
        self.connection = connection
        self.idleTimeout = idleTimeout
        self.drainTimeout = drainTimeout
        self.extendedConnect = extendedConnect
        self.streamErrorOnInvalid = streamErrorOnInvalid
        self.connectionWindow = ReceiveWindow(target: connectionWindow)
        streamWindowTarget = streamWindow
    }

    var worker: Worker { connection.worker }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        parentWritable = context.channel.isWritable
        // Added after the sniffer or the TLS handshake, the session missed channelActive.
        if context.channel.isActive { becameIdle() }
    }

    func channelActive(context: ChannelHandlerContext) {
        becameIdle()
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        retired.removeAll()
        timer.cancel()
    }

    // MARK: inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let id = frame.streamID
        guard id != .rootStream else {
            if case .ping(let data, ack: true) = frame.payload { pingAcknowledged(data) }
            return
        }
        guard !shutdown.isClosing else { return }
        let stream: DownstreamHTTP2Stream
        if let known = streams[id] {
            stream = known
        } else if case .headers = frame.payload {
            stream = DownstreamHTTP2Stream(session: self, id: id)
            streams[id] = stream
            lastClientStream = id
            idleSince = nil
        } else {
            return  // a frame for a stream already closed on our side (NIOHTTP2 checked its state)
        }
        if !stream.inReadList {
            stream.inReadList = true
            readStreams.append(stream)
        }
        stream.receive(frame.payload)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        let done = readStreams
        readStreams.removeAll(keepingCapacity: true)
        for stream in done {
            stream.inReadList = false
            stream.readComplete()
        }
        retired.removeAll(keepingCapacity: true)
        context.fireChannelReadComplete()
    }

    /// NIOHTTP2's stream events end here (no handler follows that wants them). In the order of
    /// how often they come: a stream answered with one DATA frame brings three window updates,
    /// its creation and its close, and each failed cast costs a call into the runtime.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case let window as NIOHTTP2WindowUpdatedEvent:
            guard let size = window.inboundWindowSize else { break }
            if window.streamID == .rootStream {
                connectionWindow.update(size)
                if let increment = connectionWindow.replenish() {
                    write(.windowUpdate(windowSizeIncrement: increment), on: .rootStream)
                    flush()
                }
            } else {
                streams[window.streamID]?.inboundWindowChanged(size)
            }
        case let closed as StreamClosedEvent:
            streams[closed.streamID]?.codecClosed(reset: closed.reason != nil)
        case is NIOHTTP2StreamCreatedEvent:
            break  // the stream's HEADERS open it here (channelRead)
        case let change as NIOHTTP2BulkStreamWindowChangeEvent:
            for stream in streams.values { stream.initialWindowChanged(by: change.delta) }
        case is ChannelShouldQuiesceEvent:
            startGracefulClose()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// NIOHTTP2 wrote a frame (it calls this for every frame it writes).
    func wroteFrame(_ frame: HTTP2Frame) {
        if case .goAway(_, let code, _) = frame.payload, code != .noError { connectionErrorSent = true }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // NIOHTTP2 answers a protocol error itself before reporting it: a stream error with
        // RST_STREAM (the StreamClosedEvent that follows ends the stream), a connection error
        // with GOAWAY, after which the connection closes, as Envoy closes it.
        guard connectionErrorSent else { return }
        connectionErrorSent = false
        // Floods count as floods only, as Envoy counts them, and close at once: a client
        // flooding the connection gets no second of grace in which its frames are still parsed.
        if let flood = HTTP2Flood(codecError: error) {
            connection.countFlood(flood)
            context.close(promise: nil)
        } else {
            worker.stats.inc(connection.hcmStats.cxProtocolError)
            closeAfterGoAway(context)
        }
    }

    /// Ends the connection after a GOAWAY with an error: the GOAWAY is flushed and the output
    /// shut (the client reads GOAWAY, then end of stream), what the client still
    /// sends is dropped, and the socket closes when the client closes its side or after a
    /// second (Envoy's default `delayed_close_timeout`). Closing both ways at once would make
    /// the kernel answer the client's next bytes with a reset, which can discard the GOAWAY
    /// before the client reads it.
    private func closeAfterGoAway(_ context: ChannelHandlerContext) {
        guard beginClosing() else { return }
        // The flush writes the GOAWAY to the socket now; the shutdown follows it on the wire.
        context.flush()
        context.close(mode: .output, promise: nil)
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [weak self] in
            self?.context?.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        _ = beginClosing()  // before the streams end below: they must not start the idle clock
        resetAllStreams()
        context.fireChannelInactive()
    }

    /// Every stream still open ends as reset (the connection is going away).
    private func resetAllStreams() {
        for stream in Array(streams.values) { stream.codecClosed(reset: true) }
        streams.removeAll()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        parentWritable = context.channel.isWritable
        for stream in Array(streams.values) { stream.writabilityMayHaveChanged() }
        context.fireChannelWritabilityChanged()
    }

    // MARK: for the streams

    func write(_ payload: HTTP2Frame.FramePayload, on id: HTTP2StreamID, promise: EventLoopPromise<Void>? = nil) {
        guard let context else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        context.write(wrapOutboundOut(HTTP2Frame(streamID: id, payload: payload)), promise: promise)
    }

    /// Flushes once the event loop has handled every event it woke for (the end of the read
    /// being handled included): the answers of several streams, and of other connections, then
    /// leave together (`Worker.flushAtEndOfIteration`).
    func flush() { worker.flushAtEndOfIteration(self) }

    var flushQueued = false
    func flushNow() { context?.flush() }

    /// The stream is closed for NIOHTTP2 and its `ActiveStream` is done with it.
    func remove(_ stream: DownstreamHTTP2Stream) {
        guard streams[stream.id] === stream else { return }
        streams[stream.id] = nil
        retired.append(stream)
        if streams.isEmpty { lastStreamEnded() }
    }

    func makePromise() -> EventLoopPromise<Void>? { context?.eventLoop.makePromise() }

    /// A malformed request block (RFC 9113 §8.1.1) on stream `id`, counted in
    /// `http2.rx_messaging_error`. With `stream_error_on_invalid_http_messaging` the stream is
    /// reset with PROTOCOL_ERROR and the connection goes on; otherwise, as Envoy does by
    /// default, the connection ends: GOAWAY PROTOCOL_ERROR, counted in
    /// `downstream_cx_protocol_error`, and every stream on it is reset. `streamOpen`: the stream
    /// is not closed yet (a stream already closed needs no RST_STREAM).
    func malformedRequest(on id: HTTP2StreamID, streamOpen: Bool) {
        if let counter = connection.hcmStats.http2?.rxMessagingError { worker.stats.inc(counter) }
        guard let context else { return }
        if streamErrorOnInvalid {
            guard streamOpen else { return }
            write(.rstStream(.protocolError), on: id)
            flush()
            return
        }
        worker.stats.inc(connection.hcmStats.cxProtocolError)
        write(.goAway(lastStreamID: lastClientStream, errorCode: .protocolError, opaqueData: nil), on: .rootStream)
        connectionErrorSent = false  // counted here, not again if the close reports an error
        closeAfterGoAway(context)  // before the streams end: no idle clock, no graceful close
        resetAllStreams()  // now, as when the connection closes
    }
}

/// One receive window (a connection's or a stream's): when what the peer may still send falls
/// to half the target or less, the WINDOW_UPDATE that brings it back to the target.
struct ReceiveWindow {
    let target: Int
    /// What the peer may send now, as NIOHTTP2 last reported it (nil before any report).
    private(set) var window: Int?

    init(target: Int) {
        self.target = target
    }

    /// NIOHTTP2 reported the window (after a DATA frame, or a WINDOW_UPDATE we sent).
    mutating func update(_ window: Int) {
        self.window = window
    }

    /// Our SETTINGS_INITIAL_WINDOW_SIZE took effect: every open stream's window moved by `delta`.
    mutating func shift(by delta: Int) {
        if let window { self.window = window + delta }
    }

    /// The increment due now, counted as granted.
    mutating func replenish() -> Int? {
        guard let window, window <= target / 2 else { return nil }
        let increment = min(target - window, Int(Int32.max))
        guard increment > 0 else { return nil }
        self.window = window + increment
        return increment
    }
}
