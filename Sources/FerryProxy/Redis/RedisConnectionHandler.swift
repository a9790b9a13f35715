import DequeModule
import NIOCore

/// One pipelined Redis connection's bytes: writes encoded commands, hands each reply to the
/// oldest command still waiting (Redis answers in order), and expires commands whose deadline
/// passes. A timed-out command keeps its place in the queue, so later replies still match their
/// commands; its own reply is dropped when it arrives.
///
/// Anything wrong with the byte stream (a malformed reply, a reply nobody asked for, an oldest
/// command unanswered past the stall timeout) closes the connection: `onClose` runs first, then
/// every waiting command fails. Loop-bound, like every handler.
final class RedisConnectionHandler: ChannelInboundHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private struct Waiting {
        /// Nil once the command timed out (its reply will be dropped).
        var callback: RedisCallback?
        let deadline: NIODeadline
        /// While this is the oldest command: when the connection counts as stalled.
        let stallDeadline: NIODeadline
    }

    let maxPending: Int
    let stallTimeout: TimeAmount
    /// Runs once, when the connection ends, with the reason; before the waiting commands fail,
    /// so the owner stops sending here before any of their callbacks runs.
    var onClose: ((RedisError) -> Void)?
    private var context: ChannelHandlerContext?
    private var waiting = Deque<Waiting>()
    private var parser: RESPParser
    private var inbound: ByteBuffer?
    /// One timer for every deadline: armed at the earliest known one, re-armed when it fires.
    private var timer = DeadlineTimer()
    private(set) var isClosed = false

    init(limits: RESPParser.Limits, maxPending: Int, stallTimeout: TimeAmount) {
        parser = RESPParser(limits: limits)
        self.maxPending = maxPending
        self.stallTimeout = stallTimeout
    }

    /// Commands sent and not yet answered, timed-out ones included.
    var pendingCount: Int { waiting.count }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    /// Writes one encoded command; `callback` runs once, with its reply or why there is none.
    func send(_ command: ByteBuffer, deadline: NIODeadline, _ callback: @escaping RedisCallback) {
        guard !isClosed, let context else { return callback(.failure(.connectionClosed)) }
        guard waiting.count < maxPending else { return callback(.failure(.tooManyPending)) }
        let stall = max(deadline, context.eventLoop.now + stallTimeout)
        waiting.append(Waiting(callback: callback, deadline: deadline, stallDeadline: stall))
        arm(at: deadline)
        context.writeAndFlush(wrapOutboundOut(command), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        guard !isClosed else { return }
        if inbound == nil { inbound = bytes } else { inbound!.writeBuffer(&bytes) }
        while !isClosed {
            let reply: RESPValue?
            do {
                reply = try parser.next(&inbound!)
            } catch {
                return close(.protocolError(error.description))
            }
            guard let reply else { return }
            guard let oldest = waiting.popFirst() else { return close(.protocolError("a reply to no command")) }
            guard let callback = oldest.callback else { continue }  // timed out: drop the late reply
            if case .error(let message) = reply {
                callback(.failure(.server(message)))
            } else {
                callback(.success(reply))
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if let buffer = inbound {
            if buffer.readableBytes == 0 { inbound = nil } else { inbound!.discardReadBytes() }
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        close(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        close(.connectionClosed)
    }

    // MARK: deadlines

    private func arm(at deadline: NIODeadline) {
        guard let loop = context?.eventLoop else { return }
        timer.arm(at: deadline, on: loop, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer.fired()
        guard !isClosed, let oldest = waiting.first else { return }
        let now = eventLoop.now
        if oldest.stallDeadline <= now {
            // Redis answers in order: nothing for the oldest command means nothing for any.
            return close(.timeout, failingWaiting: .connectionClosed)
        }
        var expired: [RedisCallback] = []
        var next = oldest.stallDeadline
        for index in waiting.indices {
            guard let callback = waiting[index].callback else { continue }
            if waiting[index].deadline <= now {
                waiting[index].callback = nil
                expired.append(callback)
            } else {
                next = min(next, waiting[index].deadline)
            }
        }
        arm(at: next)
        for callback in expired {
            callback(.failure(.timeout))
        }
    }

    // MARK: closing

    /// Closes the connection: `onClose` hears `reason`, every waiting command fails with
    /// `failingWaiting` (else `reason`). Idempotent.
    func close(_ reason: RedisError, failingWaiting: RedisError? = nil) {
        guard !isClosed else { return }
        isClosed = true
        timer.cancel()
        inbound = nil
        let failed = waiting
        waiting.removeAll()
        let onClose = self.onClose
        self.onClose = nil
        context?.close(promise: nil)
        onClose?(reason)
        for entry in failed {
            entry.callback?(.failure(failingWaiting ?? reason))
        }
    }
}
