import Foundation
import NIOCore
import NIOPosix

/// A raw TCP client for tests that need exact bytes on the wire (pipelining, HTTP/1.0,
/// upgrades): `send` writes bytes as given, `wait(until:)` polls what has arrived, with a
/// bounded timeout, and `isClosed` tells whether the peer closed the connection.
public final class RawConnection: Sendable {
    let channel: Channel
    let inbox: Inbox

    /// Bytes received so far and whether the connection is closed; shared with the loop.
    final class Inbox: @unchecked Sendable {
        private let lock = NSLock()
        private var bytes: [UInt8] = []
        private var closed = false

        func append(_ buffer: ByteBuffer) {
            lock.withLock { bytes += buffer.readableBytesView }
        }

        func markClosed() { lock.withLock { closed = true } }

        var snapshot: (bytes: [UInt8], closed: Bool) { lock.withLock { (bytes, closed) } }
    }

    final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let inbox: Inbox

        init(inbox: Inbox) { self.inbox = inbox }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) { inbox.append(unwrapInboundIn(data)) }

        func channelInactive(context: ChannelHandlerContext) { inbox.markClosed() }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            // The peer's FIN: it will send nothing more.
            if case ChannelEvent.inputClosed = event { inbox.markClosed() }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }

    init(channel: Channel, inbox: Inbox) {
        self.channel = channel
        self.inbox = inbox
    }

    public static func connect(host: String = "127.0.0.1", port: Int) async throws -> RawConnection {
        let inbox = Inbox()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(5))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Reader(inbox: inbox))
                }
            }
            .connect(host: host, port: port).get()
        return RawConnection(channel: channel, inbox: inbox)
    }

    public func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    public func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes)).get()
    }

    /// Everything received so far.
    public var received: [UInt8] { inbox.snapshot.bytes }

    /// Everything received so far, as text.
    public var text: String { String(decoding: received, as: UTF8.self) }

    /// True once the peer closed (or half-closed) the connection.
    public var isClosed: Bool { inbox.snapshot.closed }

    /// Polls every 5 ms until `predicate` holds for the bytes received so far (and whether the
    /// peer closed), or `timeout` passes. Returns whether the predicate held.
    @discardableResult
    public func wait(timeout: Duration = .seconds(10), until predicate: ([UInt8], Bool) -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (bytes, closed) = inbox.snapshot
            if predicate(bytes, closed) { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Waits until `count` complete responses arrived (see `WireResponse.parseAll`).
    public func responses(_ count: Int, headRequests: Set<Int> = [], timeout: Duration = .seconds(10)) async
        -> [WireResponse]
    {
        var parsed: [WireResponse] = []
        await wait(timeout: timeout) { bytes, closed in
            parsed = WireResponse.parseAll(bytes, closed: closed, headRequests: headRequests)
            return parsed.count >= count || closed
        }
        return parsed
    }

    /// Waits until the peer closes the connection; returns whether it did within `timeout`.
    public func waitForClose(timeout: Duration = .seconds(10)) async -> Bool {
        await wait(timeout: timeout) { _, closed in closed }
    }

    public func close() async {
        try? await channel.close().get()
    }

    /// Sends FIN (a half-close): the peer reads the end, and this side can still receive.
    public func shutdownOutput() async throws {
        try await channel.close(mode: .output).get()
    }

    /// Connects, runs `body`, and closes whatever happens.
    public static func with<T>(port: Int, _ body: (RawConnection) async throws -> T) async throws -> T {
        let connection = try await connect(port: port)
        return try await withCleanup { try await body(connection) } cleanup: { await connection.close() }
    }
}
