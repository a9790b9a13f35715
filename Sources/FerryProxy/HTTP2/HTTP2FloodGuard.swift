import FerryConfig
import FerryTelemetry
import NIOCore
import NIOHTTP2

/// The HTTP/2 flood limits of Envoy's `Http2ProtocolOptions`; breaking one closes the
/// connection and counts `http2.<stat>` (`cluster.<name>.http2.<stat>` upstream).
enum HTTP2Flood: Int, CaseIterable, Sendable {
    /// More than `max_outbound_frames` frames waiting for the socket.
    case outbound
    /// More than `max_outbound_control_frames` PING/SETTINGS acks and RST_STREAMs waiting
    /// (NIOHTTP2's control frame buffer).
    case outboundControl
    /// More than `max_consecutive_inbound_frames_with_empty_payload` empty DATA frames in a row
    /// (NIOHTTP2's DoS heuristics).
    case inboundEmptyFrames
    /// PRIORITY frames beyond `max_inbound_priority_frames_per_stream` × (1 + opened streams).
    case inboundPriorityFrames
    /// WINDOW_UPDATE frames beyond 5 + 2 × (opened streams +
    /// `max_inbound_window_update_frames_per_data_frame_sent` × DATA frames sent).
    case inboundWindowUpdateFrames

    var statName: String {
        switch self {
        case .outbound: "outbound_flood"
        case .outboundControl: "outbound_control_flood"
        case .inboundEmptyFrames: "inbound_empty_frames_flood"
        case .inboundPriorityFrames: "inbound_priority_frames_flood"
        case .inboundWindowUpdateFrames: "inbound_window_update_frames_flood"
        }
    }

    /// The flood NIOHTTP2 reported as `error`, if it was one of its flood limits.
    init?(codecError error: any Error) {
        switch error {
        case is NIOHTTP2Errors.ExcessiveOutboundFrameBuffering: self = .outboundControl
        case is NIOHTTP2Errors.ExcessiveEmptyDataFrames: self = .inboundEmptyFrames
        default: return nil
        }
    }
}

/// Envoy's HTTP/2 codec stats that Ferry keeps: the flood counters, `keepalive_timeout` and
/// `rx_messaging_error` (malformed requests: their stream reset or the connection closed).
/// Downstream they are `http2.*`; a cluster's are `cluster.<name>.http2.*`.
struct HTTP2CodecStats: Sendable {
    let floods: [CounterID]
    let keepaliveTimeout: CounterID
    let rxMessagingError: CounterID

    init(_ counter: (String) -> CounterID) {
        floods = HTTP2Flood.allCases.map { counter("http2." + $0.statName) }
        keepaliveTimeout = counter("http2.keepalive_timeout")
        rxMessagingError = counter("http2.rx_messaging_error")
    }

    func counter(_ flood: HTTP2Flood) -> CounterID { floods[flood.rawValue] }
}

/// One HTTP/2 frame's header (RFC 9113 §4.1).
struct HTTP2FrameHeader: Equatable {
    var length: Int
    var type: UInt8
    var flags: UInt8
    var streamID: UInt32

    static let data: UInt8 = 0, headers: UInt8 = 1, priority: UInt8 = 2, windowUpdate: UInt8 = 8
}

/// Finds the frame headers in one direction of an HTTP/2 byte stream, however the bytes are
/// cut into buffers, skipping the client's connection preface and every payload.
struct HTTP2FrameScanner {
    /// Bytes to pass over before the next frame header (the preface, or a payload's rest).
    private var skip: Int
    /// A frame header cut by a buffer's end.
    private var partial: [UInt8] = []

    /// `preface`: this direction starts with the 24-byte client connection preface.
    init(preface: Bool) {
        skip = preface ? 24 : 0
    }

    /// Calls `frame` for each frame header that completes in `bytes`.
    mutating func scan(_ bytes: UnsafeRawBufferPointer, _ frame: (HTTP2FrameHeader) -> Void) {
        var index = 0
        let count = bytes.count
        while index < count {
            if skip > 0 {
                let step = min(skip, count - index)
                skip -= step
                index += step
                continue
            }
            let header: HTTP2FrameHeader
            if partial.isEmpty && count - index >= 9 {
                header = Self.header(UnsafeRawBufferPointer(rebasing: bytes[index..<index + 9]))
                index += 9
            } else {
                let step = min(9 - partial.count, count - index)
                partial.append(contentsOf: bytes[index..<index + step])
                index += step
                guard partial.count == 9 else { return }
                header = partial.withUnsafeBytes(Self.header)
                partial.removeAll(keepingCapacity: true)
            }
            skip = header.length
            frame(header)
        }
    }

    /// Bytes that cannot be looked at (a file region): they can only be payload.
    mutating func pass(_ count: Int) {
        skip = max(0, skip - count)
    }

    private static func header(_ b: UnsafeRawBufferPointer) -> HTTP2FrameHeader {
        HTTP2FrameHeader(length: Int(b[0]) << 16 | Int(b[1]) << 8 | Int(b[2]), type: b[3], flags: b[4],
                         streamID: (UInt32(b[5]) << 24 | UInt32(b[6]) << 16 | UInt32(b[7]) << 8 | UInt32(b[8])) & 0x7FFF_FFFF)
    }
}

/// Envoy's flood accounting for one HTTP/2 connection, from the frame headers on the wire (so
/// it sees every frame, whichever part of NIOHTTP2 made or took it).
///
/// "Opened streams" count as Envoy counts them: on the server side, response HEADERS frames
/// sent (an informational or trailers block counts too); on the client side, the HEADERS frame
/// that opens a new stream.
struct HTTP2FloodCounter {
    struct Limits: Equatable {
        var outboundFrames: Int
        var priorityFramesPerStream: Int
        var windowUpdatesPerDataFrame: Int

        init(_ options: Http2ProtocolOptions) {
            outboundFrames = Int(options.maxOutboundFrames)
            priorityFramesPerStream = Int(options.maxInboundPriorityFramesPerStream)
            windowUpdatesPerDataFrame = Int(options.maxInboundWindowUpdateFramesPerDataFrameSent)
        }
    }

    let limits: Limits
    private let isServer: Bool
    private var inbound: HTTP2FrameScanner
    private var outbound: HTTP2FrameScanner
    /// Frames handed towards the socket so far, and how many of those it has taken.
    private(set) var framesSent = 0
    private var framesWritten = 0
    private var openedStreams = 0
    private var highestStreamOpened: UInt32 = 0
    private var dataFramesSent = 0
    private var priorityFrames = 0
    private var windowUpdateFrames = 0

    init(limits: Limits, isServer: Bool) {
        self.limits = limits
        self.isServer = isServer
        inbound = HTTP2FrameScanner(preface: isServer)
        outbound = HTTP2FrameScanner(preface: !isServer)
    }

    /// Frames handed towards the socket that it has not taken yet.
    var pendingFrames: Int { framesSent - framesWritten }

    /// Bytes read from the peer; the flood they make, if any.
    mutating func received(_ bytes: ByteBuffer) -> HTTP2Flood? {
        var flood: HTTP2Flood?
        bytes.withUnsafeReadableBytes { raw in
            inbound.scan(raw) { header in
                switch header.type {
                case HTTP2FrameHeader.priority:
                    priorityFrames += 1
                    if priorityFrames > limits.priorityFramesPerStream * (1 + openedStreams) { flood = flood ?? .inboundPriorityFrames }
                case HTTP2FrameHeader.windowUpdate:
                    windowUpdateFrames += 1
                    if windowUpdateFrames > 5 + 2 * (openedStreams + limits.windowUpdatesPerDataFrame * dataFramesSent) {
                        flood = flood ?? .inboundWindowUpdateFrames
                    }
                default:
                    break
                }
            }
        }
        return flood
    }

    /// Bytes on their way to the peer; the flood they make, if any.
    mutating func sending(_ data: IOData) -> HTTP2Flood? {
        switch data {
        case .byteBuffer(let buffer):
            buffer.withUnsafeReadableBytes { raw in
                outbound.scan(raw) { header in
                    framesSent += 1
                    switch header.type {
                    case HTTP2FrameHeader.data:
                        dataFramesSent += 1
                    case HTTP2FrameHeader.headers:
                        if isServer {
                            openedStreams += 1
                        } else if header.streamID > highestStreamOpened {
                            highestStreamOpened = header.streamID
                            openedStreams += 1
                        }
                    default:
                        break
                    }
                }
            }
        case .fileRegion(let region):
            outbound.pass(region.readableBytes)
        }
        return pendingFrames > limits.outboundFrames ? .outbound : nil
    }

    /// The socket took every frame counted up to `mark` (a past `framesSent`).
    mutating func written(through mark: Int) {
        framesWritten = max(framesWritten, mark)
    }
}

/// Enforces `HTTP2FloodCounter`'s limits on a connection: placed just before `NIOHTTP2Handler`,
/// it reads the frame headers going both ways. Inbound floods close the connection before the
/// codec sees the bytes. To learn when the socket has taken frames it holds back each write
/// until the next write or flush, and gives the last write before a flush a promise that
/// marks everything counted until then as written (writes complete in order).
final class HTTP2FloodGuard: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private var counter: HTTP2FloodCounter
    private let onFlood: (HTTP2Flood) -> Void
    private var held: (data: NIOAny, promise: EventLoopPromise<Void>?, mark: Int)?
    private var flooded = false

    init(limits: HTTP2FloodCounter.Limits, isServer: Bool, onFlood: @escaping (HTTP2Flood) -> Void) {
        counter = HTTP2FloodCounter(limits: limits, isServer: isServer)
        self.onFlood = onFlood
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !flooded else { return }
        if let flood = counter.received(unwrapInboundIn(data)) {
            return trip(flood, context: context)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !flooded else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        let flood = counter.sending(unwrapOutboundIn(data))
        if let previous = held { context.write(previous.data, promise: previous.promise) }
        held = (data, promise, counter.framesSent)
        // The codec is in the middle of writing: the connection closes once it has returned.
        if let flood { trip(flood, context: context) }
    }

    func flush(context: ChannelHandlerContext) {
        releaseHeld(context: context, tracked: true)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        releaseHeld(context: context, tracked: false)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        held?.promise?.fail(ChannelError.ioOnClosedChannel)
        held = nil
    }

    private func releaseHeld(context: ChannelHandlerContext, tracked: Bool) {
        guard let last = held else { return }
        held = nil
        guard tracked else { return context.write(last.data, promise: last.promise) }
        let promise = last.promise ?? context.eventLoop.makePromise()
        let mark = last.mark
        promise.futureResult.assumeIsolatedUnsafeUnchecked().whenComplete { [self] _ in counter.written(through: mark) }
        context.write(last.data, promise: promise)
    }

    private func trip(_ flood: HTTP2Flood, context: ChannelHandlerContext) {
        guard !flooded else { return }
        flooded = true
        held?.promise?.fail(ChannelError.ioOnClosedChannel)
        held = nil
        onFlood(flood)
        context.eventLoop.assumeIsolatedUnsafeUnchecked().execute { context.close(mode: .all, promise: nil) }
    }
}
