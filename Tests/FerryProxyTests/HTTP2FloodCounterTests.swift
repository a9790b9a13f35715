import FerryConfig
import NIOCore
import NIOEmbedded
import Testing

@testable import FerryProxy

/// Envoy's HTTP/2 flood limits, counted from frame headers on the wire.
@Suite("HTTP/2 flood accounting")
struct HTTP2FloodCounterTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    static func frame(_ type: UInt8, stream: UInt32 = 0, flags: UInt8 = 0, payload: Int = 0) -> [UInt8] {
        [UInt8(payload >> 16 & 0xFF), UInt8(payload >> 8 & 0xFF), UInt8(payload & 0xFF), type, flags,
         UInt8(stream >> 24 & 0x7F), UInt8(stream >> 16 & 0xFF), UInt8(stream >> 8 & 0xFF), UInt8(stream & 0xFF)]
            + [UInt8](repeating: 0xAB, count: payload)
    }

    static func scan(_ pieces: [[UInt8]], preface: Bool) -> [HTTP2FrameHeader] {
        var scanner = HTTP2FrameScanner(preface: preface)
        var found: [HTTP2FrameHeader] = []
        for piece in pieces {
            piece.withUnsafeBytes { scanner.scan($0) { found.append($0) } }
        }
        return found
    }

    static func limits(outbound: UInt32 = 10000, priority: UInt32 = 100, windowUpdates: UInt32 = 10) -> HTTP2FloodCounter.Limits {
        var options = Http2ProtocolOptions()
        options.maxOutboundFrames = outbound
        options.maxInboundPriorityFramesPerStream = priority
        options.maxInboundWindowUpdateFramesPerDataFrameSent = windowUpdates
        return .init(options)
    }

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }

    @Test("frame headers are found after the preface, past payloads, however the bytes are cut")
    func scannerSplits() {
        let stream = Self.preface + Self.frame(4, payload: 6) + Self.frame(1, stream: 1, flags: 5, payload: 30)
            + Self.frame(0, stream: 1, payload: 100) + Self.frame(8, stream: 0x8000_0003, payload: 4)
        let expected = [
            HTTP2FrameHeader(length: 6, type: 4, flags: 0, streamID: 0),
            HTTP2FrameHeader(length: 30, type: 1, flags: 5, streamID: 1),
            HTTP2FrameHeader(length: 100, type: 0, flags: 0, streamID: 1),
            HTTP2FrameHeader(length: 4, type: 8, flags: 0, streamID: 3),  // the reserved bit is ignored
        ]
        #expect(Self.scan([stream], preface: true) == expected)
        // One byte at a time, and in cuts of every size up to 20.
        #expect(Self.scan(stream.map { [$0] }, preface: true) == expected)
        for size in 2...20 {
            let pieces = stride(from: 0, to: stream.count, by: size).map { Array(stream[$0..<min($0 + size, stream.count)]) }
            #expect(Self.scan(pieces, preface: true) == expected, "cut every \(size) bytes")
        }
        // Without a preface the first bytes are a header.
        #expect(Self.scan([Self.frame(6, payload: 8)], preface: false) == [HTTP2FrameHeader(length: 8, type: 6, flags: 0, streamID: 0)])
    }

    @Test("PRIORITY frames: max_inbound_priority_frames_per_stream × (1 + streams opened by response HEADERS)")
    func priorityFlood() {
        var counter = HTTP2FloodCounter(limits: Self.limits(priority: 3), isServer: true)
        #expect(counter.received(Self.buffer(Self.preface + Array(repeating: Self.frame(2, stream: 1, payload: 5), count: 3).flatMap { $0 })) == nil)
        // A response's HEADERS opens a stream: three more are allowed.
        #expect(counter.sending(.byteBuffer(Self.buffer(Self.frame(1, stream: 1, flags: 4, payload: 3)))) == nil)
        for _ in 0..<3 { #expect(counter.received(Self.buffer(Self.frame(2, stream: 3, payload: 5))) == nil) }
        #expect(counter.received(Self.buffer(Self.frame(2, stream: 3, payload: 5))) == .inboundPriorityFrames)
    }

    @Test("WINDOW_UPDATE frames: 5 + 2 × (opened streams + max_inbound_window_update_frames_per_data_frame_sent × DATA frames sent)")
    func windowUpdateFlood() {
        var counter = HTTP2FloodCounter(limits: Self.limits(windowUpdates: 2), isServer: true)
        let update = Self.frame(8, payload: 4)
        #expect(counter.received(Self.buffer(Self.preface + Array(repeating: update, count: 5).flatMap { $0 })) == nil)
        #expect(counter.received(Self.buffer(update)) == .inboundWindowUpdateFrames)

        var counting = HTTP2FloodCounter(limits: Self.limits(windowUpdates: 2), isServer: true)
        // One response: HEADERS and one DATA frame, whose payload comes in its own buffer.
        _ = counting.sending(.byteBuffer(Self.buffer(Self.frame(1, stream: 1, flags: 4, payload: 2))))
        _ = counting.sending(.byteBuffer(Self.buffer(Array(Self.frame(0, stream: 1, flags: 1, payload: 10).prefix(9)))))
        _ = counting.sending(.byteBuffer(Self.buffer([UInt8](repeating: 1, count: 10))))
        // 5 + 2 × (1 + 2 × 1) = 11.
        #expect(counting.received(Self.buffer(Self.preface + Array(repeating: update, count: 11).flatMap { $0 })) == nil)
        #expect(counting.received(Self.buffer(update)) == .inboundWindowUpdateFrames)
    }

    @Test("a client opens a stream with the first HEADERS on it; trailers on the same stream open none")
    func clientOpenedStreams() {
        var counter = HTTP2FloodCounter(limits: Self.limits(priority: 1), isServer: false)
        _ = counter.sending(.byteBuffer(Self.buffer(Self.preface + Self.frame(4) + Self.frame(1, stream: 1, flags: 4, payload: 3))))
        _ = counter.sending(.byteBuffer(Self.buffer(Self.frame(1, stream: 1, flags: 5, payload: 3))))
        // 1 × (1 + 1) PRIORITY frames are allowed.
        #expect(counter.received(Self.buffer(Self.frame(2, stream: 1, payload: 5) + Self.frame(2, stream: 1, payload: 5))) == nil)
        #expect(counter.received(Self.buffer(Self.frame(2, stream: 1, payload: 5))) == .inboundPriorityFrames)
    }

    @Test("outbound frames not yet taken by the socket are limited by max_outbound_frames")
    func outboundFlood() {
        var counter = HTTP2FloodCounter(limits: Self.limits(outbound: 4), isServer: true)
        for _ in 0..<4 { #expect(counter.sending(.byteBuffer(Self.buffer(Self.frame(6, payload: 8)))) == nil) }
        #expect(counter.pendingFrames == 4)
        counter.written(through: 3)
        #expect(counter.pendingFrames == 1)
        // A mark older than one already seen changes nothing.
        counter.written(through: 2)
        #expect(counter.pendingFrames == 1)
        for _ in 0..<3 { #expect(counter.sending(.byteBuffer(Self.buffer(Self.frame(6, payload: 8)))) == nil) }
        #expect(counter.sending(.byteBuffer(Self.buffer(Self.frame(6, payload: 8)))) == .outbound)
    }

    @Test("the guard: written frames leave the count at each flush; a flood closes the connection once and drops what follows")
    func guardHandler() throws {
        var floods: [HTTP2Flood] = []
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2FloodGuard(limits: Self.limits(outbound: 3, priority: 1), isServer: true) {
            floods.append($0)
        })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        // Flushed writes leave the count: ten frames in three-frame batches are no flood.
        for _ in 0..<10 {
            for _ in 0..<3 { channel.write(IOData.byteBuffer(Self.buffer(Self.frame(6, payload: 8))), promise: nil) }
            channel.flush()
        }
        #expect(floods.isEmpty)
        var written = 0
        while try channel.readOutbound(as: IOData.self) != nil { written += 1 }
        #expect(written == 30)
        // A caller's promise is kept.
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(IOData.byteBuffer(Self.buffer(Self.frame(6, payload: 8))), promise: promise)
        #expect(throws: Never.self) { try promise.futureResult.wait() }

        // Inbound: the second PRIORITY frame with no stream opened is a flood; its bytes and
        // everything after them stay away from the codec.
        try channel.writeInbound(Self.buffer(Self.preface + Self.frame(2, stream: 1, payload: 5)))
        #expect(try channel.readInbound(as: ByteBuffer.self) != nil)
        try channel.writeInbound(Self.buffer(Self.frame(2, stream: 1, payload: 5)))
        try channel.writeInbound(Self.buffer(Self.frame(2, stream: 1, payload: 5)))
        #expect(try channel.readInbound(as: ByteBuffer.self) == nil)
        #expect(floods == [.inboundPriorityFrames])
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }

    @Test("the guard: frames held back from the socket beyond max_outbound_frames are an outbound flood")
    func guardOutboundFlood() throws {
        var floods: [HTTP2Flood] = []
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(HTTP2FloodGuard(limits: Self.limits(outbound: 3), isServer: true) {
            floods.append($0)
        })
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        for _ in 0..<4 { channel.write(IOData.byteBuffer(Self.buffer(Self.frame(6, payload: 8))), promise: nil) }
        #expect(floods == [.outbound])
        let late = channel.eventLoop.makePromise(of: Void.self)
        channel.write(IOData.byteBuffer(Self.buffer(Self.frame(6, payload: 8))), promise: late)
        #expect(throws: ChannelError.self) { try late.futureResult.wait() }
        channel.embeddedEventLoop.run()
        #expect(!channel.isActive)
    }
}
