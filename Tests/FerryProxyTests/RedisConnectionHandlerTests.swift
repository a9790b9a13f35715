import NIOCore
import NIOEmbedded
import Testing

@testable import FerryProxy

/// The pipelined connection handler in virtual time: replies go to commands in order, deadlines
/// expire commands without breaking that order, and a broken byte stream fails everything.
@Suite("Redis connection handler")
struct RedisConnectionHandlerTests {
    /// One handler on an embedded channel, with the results each command got, by name.
    final class Harness {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let handler: RedisConnectionHandler
        var results: [String: Result<RESPValue, RedisError>] = [:]
        var closeReason: RedisError?

        init(maxPending: Int = 16, stallTimeout: TimeAmount = .seconds(1)) throws {
            handler = RedisConnectionHandler(limits: .init(), maxPending: maxPending, stallTimeout: stallTimeout)
            channel = EmbeddedChannel(handler: handler, loop: loop)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            handler.onClose = { [unowned self] in closeReason = $0 }
        }

        func send(_ name: String, timeout: TimeAmount = .milliseconds(100)) {
            handler.send(.respCommand(["GET", .string(name)]), deadline: loop.now + timeout) { [unowned self] in
                #expect(results[name] == nil, "\(name) answered twice")
                results[name] = $0
            }
        }

        func reply(_ wire: String) throws { try channel.writeInbound(ByteBuffer(string: wire)) }

        /// The commands written so far, as text.
        func written() throws -> String {
            var text = ""
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { text += String(buffer: buffer) }
            return text
        }
    }

    @Test("pipelined commands get their replies in order; an error reply fails only its command")
    func fifo() throws {
        let h = try Harness()
        h.send("a")
        h.send("b")
        h.send("c")
        #expect(
            try h.written()
                == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n*2\r\n$3\r\nGET\r\n$1\r\nc\r\n")
        try h.reply("$1\r\n1\r\n-ERR no\r\n:")
        #expect(h.results["a"] == .success(.bulkString(ByteBuffer(string: "1"))))
        #expect(h.results["b"] == .failure(.server("ERR no")))
        #expect(h.results["c"] == nil)
        try h.reply("3\r\n")
        #expect(h.results["c"] == .success(.integer(3)))
        #expect(h.handler.pendingCount == 0)
    }

    @Test("a timed-out command keeps its place: its late reply is dropped, the next command gets its own")
    func timeoutKeepsOrder() throws {
        let h = try Harness()
        h.send("slow", timeout: .milliseconds(100))
        h.loop.advanceTime(by: .milliseconds(50))
        h.send("next", timeout: .milliseconds(500))
        h.loop.advanceTime(by: .milliseconds(49))
        #expect(h.results["slow"] == nil)
        h.loop.advanceTime(by: .milliseconds(1))
        #expect(h.results["slow"] == .failure(.timeout))
        #expect(h.results["next"] == nil)
        try h.reply("+late\r\n+mine\r\n")
        #expect(h.results["slow"] == .failure(.timeout))
        #expect(h.results["next"] == .success(.simpleString("mine")))
        #expect(h.handler.isClosed == false)
    }

    @Test("a later command with a shorter timeout expires first")
    func shorterTimeoutFirst() throws {
        let h = try Harness()
        h.send("long", timeout: .milliseconds(300))
        h.send("short", timeout: .milliseconds(50))
        h.loop.advanceTime(by: .milliseconds(50))
        #expect(h.results["short"] == .failure(.timeout))
        #expect(h.results["long"] == nil)
        h.loop.advanceTime(by: .milliseconds(250))
        #expect(h.results["long"] == .failure(.timeout))
    }

    @Test("no reply to the oldest command for the stall timeout closes the connection")
    func stall() throws {
        let h = try Harness(stallTimeout: .seconds(1))
        h.send("a")
        h.loop.advanceTime(by: .milliseconds(900))
        h.send("b", timeout: .seconds(5))
        h.loop.advanceTime(by: .milliseconds(99))
        #expect(h.channel.isActive)
        h.loop.advanceTime(by: .milliseconds(1))
        #expect(!h.channel.isActive)
        #expect(h.closeReason == .timeout)
        #expect(h.results["a"] == .failure(.timeout))
        #expect(h.results["b"] == .failure(.connectionClosed))
    }

    @Test(
        "a malformed reply or a reply to no command closes the connection and fails every waiting command",
        arguments: [("!bad\r\n", "invalid RESP type byte 0x21"), ("+OK\r\n+extra\r\n", "a reply to no command")])
    func brokenStream(wire: String, detail: String) throws {
        let h = try Harness()
        h.send("a")
        if wire.hasPrefix("+OK") {
            try h.reply(wire)
            #expect(h.results["a"] == .success(.simpleString("OK")))
        } else {
            h.send("b")
            try h.reply(wire)
            #expect(h.results["a"] == .failure(.protocolError(detail)))
            #expect(h.results["b"] == .failure(.protocolError(detail)))
        }
        #expect(h.closeReason == .protocolError(detail))
        #expect(!h.channel.isActive)
        // A closed connection answers at once, without writing.
        h.send("after")
        #expect(h.results["after"] == .failure(.connectionClosed))
    }

    @Test("the peer closing fails every waiting command with connectionClosed")
    func peerClose() throws {
        let h = try Harness()
        h.send("a")
        h.channel.pipeline.fireChannelInactive()
        #expect(h.results["a"] == .failure(.connectionClosed))
        #expect(h.closeReason == .connectionClosed)
    }

    @Test("past maxPending, commands fail at once with tooManyPending and are not written")
    func maxPending() throws {
        let h = try Harness(maxPending: 2)
        h.send("a")
        h.send("b")
        _ = try h.written()
        h.send("c")
        #expect(h.results["c"] == .failure(.tooManyPending))
        #expect(try h.written() == "")
        try h.reply("+1\r\n")
        h.send("d")
        #expect(h.results["d"] == nil)
    }
}
