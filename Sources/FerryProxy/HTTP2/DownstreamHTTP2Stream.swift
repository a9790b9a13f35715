import NIOCore
import NIOHPACK
import NIOHTTP2

/// One downstream HTTP/2 stream: the only handler of its stream channel (NIOHTTP2's inline
/// multiplexer). It turns the HEADERS block into a request head for an `ActiveStream`, feeds it
/// DATA, and is that stream's `StreamEncoder`. Backpressure is the stream channel's: while the
/// stream cannot take request body, reads stop, so no WINDOW_UPDATE goes out and the client
/// stops at its window; response body is written only while the channel is writable (the
/// client's window has room), else the upstream stops being read.
final class DownstreamHTTP2Stream: ChannelDuplexHandler, StreamEncoder {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    // The connection handler outlives its streams' handlers (their channels close first).
    unowned(unsafe) let connection: DownstreamHTTP2Connection
    private var context: ChannelHandlerContext?
    private var stream: ActiveStream?
    private var opened = false
    /// The stream counts among the connection's active ones until its `ActiveStream` finishes.
    private var counted = false
    private var requestDone = false
    private var responseDone = false
    /// Closed while the stream cannot take request body; holds the stream channel's reads.
    private var readGate = ReadGate()
    /// Request body that arrived in the same read as the pause.
    private var heldBody: [(ByteBuffer, Bool)] = []
    /// The response head, kept until the first body bytes or the end, so that a response
    /// without a body (and a gRPC trailers-only answer) is one HEADERS frame with END_STREAM.
    private var pendingHead: HPACKHeaders?
    private var noBody = false
    private var writable = true

    init(connection: DownstreamHTTP2Connection) {
        self.connection = connection
    }

    private var worker: Worker { connection.worker }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        writable = context.channel.isWritable
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        pendingHead = nil
        heldBody = []
    }

    /// The stream channel closed (both ends done, a reset either way, or the connection went).
    func channelInactive(context: ChannelHandlerContext) {
        if let stream {
            self.stream = nil
            stream.onDownstreamReset()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A stream error (NIOHTTP2 has sent RST_STREAM); the channel closes next.
        context.close(promise: nil)
    }

    // MARK: reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if !opened {
                open(headers.headers, endStream: headers.endStream)
            } else if !requestDone {
                // Request trailers end the body (HTTP/1 upstreams cannot carry them).
                deliver(ByteBuffer(), end: true)
            }
        case .data(let frame):
            guard opened, !requestDone, case .byteBuffer(let buffer) = frame.data else { return }
            deliver(buffer, end: frame.endStream)
        case .rstStream:
            if let stream {
                self.stream = nil
                stream.onDownstreamReset()
            }
        default:
            break
        }
    }

    private func deliver(_ data: ByteBuffer, end: Bool) {
        if end { requestDone = true }
        guard let stream else { return }
        if readGate.isPaused || !heldBody.isEmpty {
            heldBody.append((data, end))
            return
        }
        stream.decodeData(data, endStream: end)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream?.downstreamReadComplete()
        context.flush()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if readGate.admit() { context.read() }
    }

    private func open(_ block: HPACKHeaders, endStream: Bool) {
        opened = true
        counted = true
        requestDone = endStream
        let (listener, hcm) = connection.streamOpened()
        var head = HTTP2HeaderMapping.requestHead(block)
        let headerBytes = block.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 32 }
        if !endStream, head.headers.first("expect")?.lowercased() == "100-continue" {
            head.headers.remove("expect")
            var continueBlock = HPACKHeaders()
            continueBlock.add(name: ":status", value: "100")
            context?.writeAndFlush(wrapOutboundOut(.headers(.init(headers: continueBlock))), promise: nil)
        }
        let isConnect = head.method == "CONNECT"
        let tooManyHeaders = block.count > Int(hcm.config.maxHeadersCount)
        let stream = ActiveStream(worker: worker, encoder: self, connection: connection.info, listener: listener, hcm: hcm,
                                  generation: worker.generation, head: head, headerBytes: headerBytes, started: worker.now)
        self.stream = stream
        if isConnect {
            // CONNECT over HTTP/2 (allow_connect) is refused at config time; a client's CONNECT
            // gets Envoy's answer for a CONNECT it does not route.
            stream.codecRefused = true
            worker.stats.inc(hcm.stats.rqTotal)
            worker.stats.add(hcm.stats.rqActive, 1)
            return stream.sendLocalReply(404, body: "", details: "connect_not_supported")
        }
        if tooManyHeaders {
            // max_headers_count (common_http_protocol_options), as the HTTP/1 parser applies it.
            stream.codecRefused = true
            worker.stats.inc(hcm.stats.rqTotal)
            worker.stats.add(hcm.stats.rqActive, 1)
            return stream.sendLocalReply(431, body: HTTPReason.phrase(431), details: "http2.too_many_headers")
        }
        stream.decodeHeaders(endStream: endStream)
    }

    // MARK: StreamEncoder

    func encodeHeaders(_ head: ResponseHead, for stream: ActiveStream) {
        guard let context else { return }
        if head.status < 200 {
            // 1xx informational (100-continue passed through, 103): its own HEADERS frame.
            guard head.status != 101 else { return }
            context.write(wrapOutboundOut(.headers(.init(headers: HTTP2HeaderMapping.responseBlock(head)))), promise: nil)
            return
        }
        noBody = stream.request.method == "HEAD" || head.status == 204 || head.status == 304
        pendingHead = HTTP2HeaderMapping.responseBlock(head)
    }

    func encodeData(_ data: ByteBuffer, for stream: ActiveStream) {
        guard let context, !noBody, data.readableBytes > 0 else { return }
        writePendingHead(endStream: false)
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(data)))), promise: nil)
    }

    func encodeEnd(trailers: HeaderMap?, for stream: ActiveStream) {
        guard let context else { return }
        responseDone = true
        if let trailers, !trailers.isEmpty, !noBody {
            writePendingHead(endStream: false)
            let block = HTTP2HeaderMapping.trailersBlock(trailers)
            context.write(wrapOutboundOut(.headers(.init(headers: block, endStream: true))), promise: nil)
        } else if pendingHead != nil {
            writePendingHead(endStream: true)
        } else {
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))), promise: nil)
        }
    }

    private func writePendingHead(endStream: Bool) {
        guard let block = pendingHead, let context else { return }
        pendingHead = nil
        context.write(wrapOutboundOut(.headers(.init(headers: block, endStream: endStream))), promise: nil)
    }

    /// HTTP/2 has no upgrades (RFC 9113 §8.6), so no stream here ever tunnels.
    func encodeTunnel(_ data: ByteBuffer) {
        guard let context, data.readableBytes > 0 else { return }
        context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(data)))), promise: nil)
    }

    func flush() { context?.flush() }

    var isWritable: Bool { writable && context != nil }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        writable = context.channel.isWritable
        stream?.downstreamWritabilityChanged(writable)
        context.fireChannelWritabilityChanged()
    }

    /// Aborts the stream: RST_STREAM INTERNAL_ERROR (the connection and its other streams go on).
    func resetStream(_ stream: ActiveStream) {
        guard let context else { return }
        if self.stream === stream { self.stream = nil }
        pendingHead = nil
        context.writeAndFlush(wrapOutboundOut(.rstStream(.internalError)), promise: nil)
    }

    func resumeRequestBody() {
        guard readGate.isPaused else { return }
        let readHeld = readGate.resume()
        while !readGate.isPaused, !heldBody.isEmpty, let stream {
            let (data, end) = heldBody.removeFirst()
            stream.decodeData(data, endStream: end)
        }
        guard readHeld else { return }
        // Delivering the held body may have paused the stream again: then the read waits again.
        if readGate.admit() { context?.read() }
    }

    func pauseRequestBody() { readGate.pause() }

    /// An HTTP/1 connection closes after such a response; an HTTP/2 stream ends by itself and
    /// the connection serves the others.
    func closeAfterResponse() {}

    func streamFinished(_ finished: ActiveStream) {
        if counted {
            counted = false
            connection.streamFinished()
        }
        guard stream === finished else { return }
        stream = nil
        heldBody = []
        // The response is complete but the client is still sending: tell it to stop (RFC 9113 §8.1).
        if !requestDone, responseDone, let context {
            context.write(wrapOutboundOut(.rstStream(.noError)), promise: nil)
        }
        context?.flush()
    }
}
