import NIOCore
import NIOEmbedded
import Testing

@testable import FerryProxy

/// Counts the flushes that reach the socket end of a pipeline.
private final class FlushCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var flushes = 0
    func flush(context: ChannelHandlerContext) {
        flushes += 1
        context.flush()
    }
}

private final class FakeConnection: DeferredFlushing {
    var flushQueued = false
    var flushes = 0
    var onFlush: (() -> Void)?
    func flushNow() {
        flushes += 1
        onFlush?()
    }
}

@Suite("Flushes wait for the end of the event-loop iteration")
struct DeferredFlushTests {
    @Test("each connection asked to flush is flushed once, after the iteration's events")
    func onePerConnection() throws {
        let h = try DownstreamHarness(routes: DownstreamHandlerTests.hello)
        let a = FakeConnection(), b = FakeConnection()
        h.worker.flushAtEndOfIteration(a)
        h.worker.flushAtEndOfIteration(b)
        h.worker.flushAtEndOfIteration(a)
        #expect(a.flushes == 0 && b.flushes == 0)
        h.loop.run()
        #expect(a.flushes == 1 && b.flushes == 1)
        #expect(!a.flushQueued && !b.flushQueued)
        // A flush that asks for another one (a write completing into another connection) gets it.
        a.onFlush = { h.worker.flushAtEndOfIteration(b) }
        h.worker.flushAtEndOfIteration(a)
        h.loop.run()
        #expect(a.flushes == 2 && b.flushes == 2)
    }

    @Test("a response is on the wire only once the iteration ends, and pipelined answers share one flush")
    func responsesShareAFlush() throws {
        let h = try DownstreamHarness(routes: DownstreamHandlerTests.hello)
        let counter = FlushCounter()
        try h.channel.pipeline.syncOperations.addHandler(counter, position: .first)
        try h.send("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\n\r\n")
        let before = try h.channel.readOutbound(as: ByteBuffer.self)
        #expect(before == nil, "written but not flushed before the iteration ends")
        #expect(counter.flushes == 0)
        let out = try h.received()
        #expect(out.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "\(out)")
        #expect(counter.flushes == 1)
    }

    @Test("closing after a reset still sends the answers written before it")
    func closeFlushesFirst() throws {
        let h = try DownstreamHarness(routes: DownstreamHandlerTests.hello)
        try h.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let handler = try h.channel.pipeline.syncOperations.handler(type: DownstreamHTTP1Handler.self)
        handler.closeNow()
        let out = try h.received()
        #expect(out.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(!h.channel.isActive)
    }
}
