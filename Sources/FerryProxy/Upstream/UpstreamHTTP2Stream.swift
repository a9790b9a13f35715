import NIOCore
import NIOHTTP2

/// One request on an HTTP/2 upstream connection: the handler of the stream's child channel.
/// Writes the request as HEADERS and DATA frames and hands the response frames to the
/// `ActiveStream`. Flow control both ways: the child channel turns unwritable while the peer's
/// window is used up (the router then stops reading the downstream), and response frames are
/// read only while the downstream takes them (unread frames hold back WINDOW_UPDATEs).
final class UpstreamHTTP2Stream: ChannelDuplexHandler, UpstreamStream {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let connection: UpstreamHTTP2Connection
    private(set) var stream: ActiveStream?
    private var context: ChannelHandlerContext?
    private var finalHeadSeen = false
    private var informational = 0
    private var requestDone = false
    private var responseDone = false
    private var endReported = false
    private var readGate = ReadGate()

    init(connection: UpstreamHTTP2Connection, stream: ActiveStream) {
        self.connection = connection
        self.stream = stream
    }

    // MARK: opening

    /// The stream's channel is active: the router may send.
    func opened() {
        guard let stream else { return }
        stream.onPoolReady(self)
    }

    /// The stream could not be opened (the connection went away meanwhile).
    func failToOpen() {
        reportEnded()
        guard let stream else { return }
        self.stream = nil
        stream.onUpstreamReset(.connectionTermination, detail: "upstream_reset")
    }

    private func reportEnded() {
        guard !endReported else { return }
        endReported = true
        connection.streamEnded()
    }

    // MARK: UpstreamStream

    func sendHeaders(_ head: RequestHead, endStream: Bool) {
        guard let context else { return }
        let headers = HTTP2HeaderMapping.requestHeaders(head, scheme: connection.scheme)
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: endStream))), promise: nil)
        if endStream {
            requestDone = true
            context.flush()
        }
    }

    func sendData(_ data: ByteBuffer, endStream: Bool) {
        guard let context else { return }
        let trailers = endStream ? stream?.requestTrailers.flatMap { $0.isEmpty ? nil : $0 } : nil
        if data.readableBytes > 0 || (endStream && trailers == nil) {
            let last = endStream && trailers == nil
            context.write(wrapOutboundOut(.data(.init(data: .byteBuffer(data), endStream: last))), promise: nil)
        }
        if let trailers {
            context.write(wrapOutboundOut(.headers(.init(headers: HTTP2HeaderMapping.trailersBlock(trailers), endStream: true))),
                          promise: nil)
        }
        if endStream {
            requestDone = true
            context.flush()
        }
    }

    /// Upgrades are refused before a request reaches an HTTP/2 upstream; nothing to tunnel.
    func sendTunnel(_ data: ByteBuffer) {}
    func endTunnel() {}

    func flush() { context?.flush() }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    var localAddress: String? { connection.localAddress }

    func complete(requestEnded: Bool) {
        stream = nil
        // A response that ended before the request did: the rest of the request is not wanted
        // (closing an open stream sends RST_STREAM).
        if !requestDone || !requestEnded { context?.close(promise: nil) }
    }

    func abort() {
        stream = nil
        context?.close(promise: nil)
    }

    // MARK: reading

    func pauseReading() { readGate.pause() }

    func resumeReading() {
        if readGate.resume() { context?.read() }
    }

    func read(context: ChannelHandlerContext) {
        if readGate.admit() { context.read() }
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let stream else { return }
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if finalHeadSeen {
                // Trailers: they end the stream.
                guard headers.endStream else { return protocolError("trailers without END_STREAM") }
                return finishResponse(trailers: HTTP2HeaderMapping.trailers(headers.headers))
            }
            let head: ResponseHead
            do {
                head = try HTTP2HeaderMapping.responseHead(headers.headers)
            } catch {
                return protocolError("invalid response headers")
            }
            if head.status < 200 {
                informational += 1
                if head.status == 101 || informational > UpstreamHTTP1Connection.maxInformationalResponses {
                    return protocolError("too_many_informational_responses")
                }
                return
            }
            finalHeadSeen = true
            stream.onUpstreamHeaders(head)
            if headers.endStream { finishResponse(trailers: nil) }
        case .data(let data):
            guard finalHeadSeen else { return protocolError("data before headers") }
            if case .byteBuffer(let buffer) = data.data, buffer.readableBytes > 0 { stream.onUpstreamData(buffer) }
            if data.endStream { finishResponse(trailers: nil) }
        default:
            // RST_STREAM arrives as an error (errorCaught); WINDOW_UPDATE and PRIORITY need nothing.
            break
        }
    }

    private func finishResponse(trailers: HeaderMap?) {
        responseDone = true
        guard let stream else { return }
        stream.onUpstreamComplete(trailers: trailers)
    }

    private func protocolError(_ detail: String) {
        guard let stream else { return }
        self.stream = nil
        context?.close(promise: nil)
        stream.onUpstreamReset(.protocolError, detail: detail)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream?.onUpstreamReadComplete()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        stream?.onUpstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let stream {
            self.stream = nil
            if let closed = error as? NIOHTTP2Errors.StreamClosed {
                // REFUSED_STREAM, and every stream a GOAWAY left unprocessed, is safe to retry.
                let refused = closed.errorCode == .refusedStream || connection.unprocessed(closed.streamID)
                stream.onUpstreamReset(refused ? .refusedStream : .remoteReset, detail: "upstream_reset")
            } else {
                stream.onUpstreamReset(.protocolError, detail: "upstream_reset")
            }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        reportEnded()
        if let stream {
            self.stream = nil
            stream.onUpstreamReset(.connectionTermination, detail: "upstream_reset")
        }
        context.fireChannelInactive()
    }
}
