import NIOCore
import NIOHPACK
import NIOHTTP2

/// One downstream HTTP/2 stream, kept by its connection's `DownstreamHTTP2Session`: it turns the
/// HEADERS block into a request head for an `ActiveStream`, feeds it DATA, and is that stream's
/// `StreamEncoder`. Backpressure both ways: while the `ActiveStream` cannot take request body,
/// the stream's receive window is not replenished, so the client stops at its window (frames
/// already under way are held here); response body is written while fewer than 64 KiB of it
/// are still on their way to the socket, else the upstream stops being read.
final class DownstreamHTTP2Stream: StreamEncoder {
    let id: HTTP2StreamID
    // The session keeps this object until the `ActiveStream` is done with it, and outlives it.
    unowned(unsafe) let session: DownstreamHTTP2Session
    private var stream: ActiveStream?
    private var opened = false
    /// The stream counts among the connection's active ones until its `ActiveStream` finishes.
    private var counted = false
    private var requestDone = false
    private var responseDone = false
    /// NIOHTTP2 closed the stream (both ends done, or a reset either way).
    private var closed = false
    /// On the session's list of streams that read in the current read.
    var inReadList = false
    /// The `ActiveStream` cannot take request body: no WINDOW_UPDATE goes out, and DATA still
    /// under way is held.
    private var paused = false
    private var heldBody: [(ByteBuffer, Bool)] = []
    private var receiveWindow: ReceiveWindow
    /// The response head, kept until the first body bytes or the end, so that a response
    /// without a body (and a gRPC trailers-only answer) is one HEADERS frame with END_STREAM.
    private var pendingHead: HPACKHeaders?
    /// The latest response body chunk, kept until the next one, the end (then it carries
    /// END_STREAM, so a short response is HEADERS + one DATA frame) or a flush.
    private var pendingData: ByteBuffer?
    private var noBody = false
    /// Response bytes written but not yet on the socket (NIOHTTP2 holds them for the client's
    /// window, or the socket is full).
    private var unsentBytes = 0
    private var overWatermark = false
    private var wasWritable = true
    /// An RFC 8441 extended CONNECT (`allow_connect`: WebSocket over HTTP/2), which the router
    /// sees as an HTTP/1.1 upgrade; once the upstream switched protocols (`tunnelOpen`) DATA
    /// carries the tunnel's bytes both ways.
    private var extendedConnect = false
    private var tunnelOpen = false
    /// Request body bytes its `content-length` still announces (nil: no `content-length`).
    /// Ferry checks it here (RFC 9113 §8.1.1), NIOHTTP2's check is off downstream.
    private var bodyLeft: Int?

    init(session: DownstreamHTTP2Session, id: HTTP2StreamID) {
        self.session = session
        self.id = id
        receiveWindow = ReceiveWindow(target: session.streamWindowTarget)
    }

    private var worker: Worker { session.worker }

    // MARK: reading

    func receive(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let headers):
            if !opened {
                open(headers.headers, endStream: headers.endStream)
            } else if !requestDone {
                // Request trailers end the body; an HTTP/2 upstream gets them after it.
                guard bodyLeft ?? 0 == 0 else { return refuseMalformed() }
                do throws(HTTP2HeaderMapping.MalformedBlock) {
                    stream?.requestTrailers = try HTTP2HeaderMapping.requestTrailers(headers.headers)
                } catch {
                    return refuseMalformed()
                }
                deliver(ByteBuffer(), end: true)
            }
        case .data(let frame):
            guard opened, !requestDone, case .byteBuffer(let buffer) = frame.data else { return }
            if let left = bodyLeft {
                let after = left - buffer.readableBytes
                guard after >= 0, after == 0 || !frame.endStream else { return refuseMalformed() }
                bodyLeft = after
            }
            deliver(buffer, end: frame.endStream)
        default:
            break  // RST_STREAM arrives as the StreamClosedEvent that follows it
        }
    }

    private func deliver(_ data: ByteBuffer, end: Bool) {
        if end { requestDone = true }
        guard let stream else { return }
        // A tunnel's bytes wait until the upstream has switched protocols.
        if paused || !heldBody.isEmpty || (extendedConnect && !tunnelOpen) {
            heldBody.append((data, end))
            return
        }
        pass(data, end: end, to: stream)
    }

    private func pass(_ data: ByteBuffer, end: Bool, to stream: ActiveStream) {
        guard extendedConnect else { return stream.decodeData(data, endStream: end) }
        if data.readableBytes > 0 { stream.decodeTunnel(data) }
        // The client's END_STREAM is a TCP FIN for the tunnel (RFC 8441 §4): the upstream
        // connection is half-closed, and the stream ends when the upstream closes.
        if end { stream.endTunnelFromDownstream() }
    }

    func readComplete() { stream?.downstreamReadComplete() }

    func inboundWindowChanged(_ size: Int) {
        receiveWindow.update(size)
        replenish()
    }

    func initialWindowChanged(by delta: Int) { receiveWindow.shift(by: delta) }

    /// A WINDOW_UPDATE when the window is half used, unless the stream holds its client back.
    private func replenish() {
        guard !paused, !requestDone, !closed, let increment = receiveWindow.replenish() else { return }
        session.write(.windowUpdate(windowSizeIncrement: increment), on: id)
        session.flush()
    }

    private func open(_ block: HPACKHeaders, endStream: Bool) {
        opened = true
        let request: HTTP2HeaderMapping.Request
        do throws(HTTP2HeaderMapping.MalformedBlock) {
            request = try HTTP2HeaderMapping.request(block, extendedConnect: session.extendedConnect)
        } catch {
            return refuseMalformed()
        }
        if let length = request.contentLength {
            guard !endStream || length == 0 else { return refuseMalformed() }
            bodyLeft = length
        }
        counted = true
        requestDone = endStream
        let headerBytes = request.headerBytes, upgrade = request.extendedConnectProtocol
        // Consumed, and moved on through `start`'s consuming parameter into the `ActiveStream`:
        // its head is then the only owner of the field array, so the connection manager's
        // additions (x-forwarded-*, x-request-id) do not copy it. A local copy would live to
        // the end of this function, past the connection manager's work.
        start((consume request).head, upgrade: upgrade, headerBytes: headerBytes, fields: block.count, endStream: endStream)
    }

    private func start(_ head: consuming RequestHead, upgrade: String?, headerBytes: Int, fields: Int, endStream: Bool) {
        let connection = session.connection
        let (listener, hcm) = connection.streamOpened()
        if !endStream, head.headers.first("expect")?.lowercased() == "100-continue" {
            head.headers.remove("expect")
            var continueBlock = HPACKHeaders()
            continueBlock.add(name: ":status", value: "100")
            session.write(.headers(.init(headers: continueBlock)), on: id)
            session.flush()
        }
        var isConnect = head.method == "CONNECT"
        if isConnect, let proto = upgrade {
            // RFC 8441: to the router (and an HTTP/1.1 upstream) this is the upgrade it stands
            // for, as Envoy's codec turns it into one.
            head.method = "GET"
            head.headers.addLowercased("connection", "upgrade")
            head.headers.addLowercased("upgrade", proto)
            extendedConnect = true
            isConnect = false
            // Until the upstream switches protocols the client's bytes wait here, held to the
            // stream's window: no WINDOW_UPDATE goes out for them.
            paused = true
        }
        let tooManyHeaders = fields > Int(hcm.config.maxHeadersCount)
        let stream = ActiveStream(worker: worker, encoder: self, connection: connection.info, listener: listener, hcm: hcm,
                                  generation: worker.generation, head: head, headerBytes: headerBytes, started: worker.now)
        self.stream = stream
        if isConnect {
            // Classic CONNECT (no :protocol) is not routed by Ferry: Envoy's answer for a
            // CONNECT no route takes.
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
        // An upgrade request has no body: what follows its head is the tunnel's.
        stream.decodeHeaders(endStream: endStream || extendedConnect)
    }

    /// NIOHTTP2 closed the stream: both ends are done, or it was reset (by the client, by
    /// NIOHTTP2 for a protocol error, or with the connection). An `ActiveStream` still waiting
    /// for its response's end was reset by the client.
    func codecClosed(reset: Bool) {
        guard !closed else { return }
        closed = true
        heldBody = []
        pendingHead = nil
        pendingData = nil
        if let stream, !responseDone || reset {
            self.stream = nil
            stream.onDownstreamReset()
        }
        // An `ActiveStream` that wrote its end but has not finished yet does so next.
        if stream == nil { session.remove(self) }
    }

    // MARK: StreamEncoder

    func encodeHeaders(_ head: ResponseHead, for stream: ActiveStream) {
        guard !closed else { return }
        if extendedConnect, head.status == 101 {
            return openTunnel(head)
        }
        if head.status < 200 {
            // 1xx informational (100-continue passed through, 103): its own HEADERS frame.
            guard head.status != 101 else { return }
            session.write(.headers(.init(headers: HTTP2HeaderMapping.responseBlock(head))), on: id)
            return
        }
        noBody = stream.request.method == "HEAD" || head.status == 204 || head.status == 304
        pendingHead = HTTP2HeaderMapping.responseBlock(head)
    }

    func encodeData(_ data: ByteBuffer, for stream: ActiveStream) {
        guard !closed, !noBody, data.readableBytes > 0 else { return }
        writePendingHead(endStream: false)
        writePendingData()
        pendingData = data
    }

    func encodeEnd(trailers: HeaderMap?, for stream: ActiveStream) {
        guard !closed else { return }
        responseDone = true
        let last: HTTP2Frame.FramePayload
        if let trailers, !trailers.isEmpty, !noBody {
            writePendingHead(endStream: false)
            writePendingData()
            last = .headers(.init(headers: HTTP2HeaderMapping.trailersBlock(trailers), endStream: true))
        } else if let block = pendingHead {
            pendingHead = nil
            last = .headers(.init(headers: block, endStream: true))
        } else {
            last = .data(.init(data: .byteBuffer(pendingData ?? ByteBuffer()), endStream: true))
            pendingData = nil
        }
        session.write(last, on: id, promise: requestDone ? nil : stopClientOnceSent())
    }

    /// The response is complete but the client is still sending: once the response's last
    /// frame is on its way (NIOHTTP2 may hold it for the client's window, and a reset would
    /// drop it), RST_STREAM NO_ERROR tells the client to stop (RFC 9113 §8.1), as Envoy does.
    private func stopClientOnceSent() -> EventLoopPromise<Void>? {
        let promise = session.makePromise()
        promise?.futureResult.assumeIsolated().whenSuccess { [self] in
            guard !requestDone, !closed else { return }
            session.write(.rstStream(.noError), on: id)
            session.flush()
        }
        return promise
    }

    private func writePendingHead(endStream: Bool) {
        guard let block = pendingHead else { return }
        pendingHead = nil
        session.write(.headers(.init(headers: block, endStream: endStream)), on: id)
    }

    /// Writes the held body chunk, counting it until it reaches the socket.
    private func writePendingData() {
        guard let data = pendingData else { return }
        pendingData = nil
        writeData(data)
    }

    /// A DATA frame without END_STREAM, counted until it reaches the socket (write watermark).
    private func writeData(_ data: ByteBuffer) {
        let size = data.readableBytes
        let promise = session.makePromise()
        if let promise {
            unsentBytes += size
            if unsentBytes >= DownstreamHTTP2Session.highWatermark { overWatermark = true }
            promise.futureResult.assumeIsolated().whenComplete { [self] _ in sent(size) }
        }
        session.write(.data(.init(data: .byteBuffer(data))), on: id, promise: promise)
        writabilityMayHaveChanged()
    }

    private func sent(_ size: Int) {
        unsentBytes -= size
        if overWatermark, unsentBytes <= DownstreamHTTP2Session.lowWatermark {
            overWatermark = false
            writabilityMayHaveChanged()
        }
    }

    /// The upstream switched protocols for an extended CONNECT: the client gets 200 (RFC 8441
    /// §5, as Envoy turns the 101 around) and the stream carries the tunnel from now on.
    private func openTunnel(_ head: ResponseHead) {
        var response = head
        response.status = 200
        response.headers.remove("upgrade")
        response.headers.remove("connection")
        session.write(.headers(.init(headers: HTTP2HeaderMapping.responseBlock(response))), on: id)
        session.flush()
        tunnelOpen = true
        worker.stats.inc(session.connection.hcmStats.cxUpgradesTotal)
        worker.stats.add(session.connection.hcmStats.cxUpgradesActive, 1)
        // The request "ended" with its head, which paused its body; the tunnel's bytes flow
        // now (as the HTTP/1 codec resumes reading after a 101). Bytes the client sent early
        // go up once the router is done with the response head.
        guard let loop = session.context?.eventLoop else { return }
        loop.assumeIsolated().execute { [self] in
            paused = true
            resumeRequestBody()
        }
    }

    /// A tunnel's bytes from the upstream (after an extended CONNECT's 200), as DATA frames
    /// held to the same write watermark as a response body.
    func encodeTunnel(_ data: ByteBuffer) {
        guard !closed, tunnelOpen, data.readableBytes > 0 else { return }
        writeData(data)
    }

    func flush() {
        writePendingData()
        session.flush()
    }

    var isWritable: Bool { !closed && !overWatermark && session.parentWritable }

    func writabilityMayHaveChanged() {
        let writable = isWritable
        guard writable != wasWritable else { return }
        wasWritable = writable
        stream?.downstreamWritabilityChanged(writable)
    }

    /// A malformed request (RFC 9113 §8.1.1: its HEADERS or trailers block, or a body that
    /// breaks its `content-length`): the session resets the stream or closes the connection
    /// (`DownstreamHTTP2Session.malformedRequest`). An `ActiveStream` already started ends as
    /// reset when the close arrives.
    private func refuseMalformed() {
        requestDone = true
        heldBody = []
        session.malformedRequest(on: id, streamOpen: !closed)
    }

    /// Aborts the stream: RST_STREAM INTERNAL_ERROR (the connection and its other streams go on).
    func resetStream(_ stream: ActiveStream) {
        if self.stream === stream { self.stream = nil }
        pendingHead = nil
        pendingData = nil
        guard !closed else { return }
        session.write(.rstStream(.internalError), on: id)
        session.flush()
    }

    func resumeRequestBody() {
        // A tunnel's bytes wait for the upstream's 101 whatever the router says.
        guard paused, !extendedConnect || tunnelOpen else { return }
        paused = false
        while !paused, !heldBody.isEmpty, let stream {
            let (data, end) = heldBody.removeFirst()
            pass(data, end: end, to: stream)
        }
        // Delivering the held body may have paused the stream again; else the client may send more.
        replenish()
    }

    func pauseRequestBody() { paused = true }

    /// An HTTP/1 connection closes after such a response; an HTTP/2 stream ends by itself and
    /// the connection serves the others.
    func closeAfterResponse() {}

    func streamFinished(_ finished: ActiveStream) {
        if counted {
            counted = false
            session.connection.streamFinished()
        }
        if tunnelOpen {
            tunnelOpen = false
            worker.stats.add(session.connection.hcmStats.cxUpgradesActive, -1)
        }
        guard stream === finished else { return }
        stream = nil
        heldBody = []
        if closed { session.remove(self) }
        pendingData = nil
        session.flush()
    }
}
