import NIOCore
import NIOHTTP2

/// The life of a downstream HTTP/2 connection, run by its session, which sees streams open and
/// end as they happen:
/// - `idle_timeout`: a connection with no stream open for that long is closed as a drain closes
///   it (below), counted in `downstream_cx_idle_timeout`. Envoy also starts with a GOAWAY with
///   the highest stream id; it sends the second one after `drain_timeout`, Ferry as soon as the
///   PING's ACK shows the client has the first.
/// - Drain (`ChannelShouldQuiesceEvent` from `DownstreamHTTP2Connection.drain`): a GOAWAY with
///   the highest possible stream id, then a PING. A client may have opened streams the GOAWAY
///   has not reached yet; once the PING's ACK shows it has, a second GOAWAY names the last
///   stream the client really opened. The connection closes when its last stream ends after
///   that, or `drain_timeout` after the first GOAWAY, whichever comes first (also when a client
///   never answers the PING).
extension DownstreamHTTP2Session {
    enum Shutdown {
        case open
        /// The first GOAWAY and the PING went out; `deadline` ends the drain.
        case goAwaySent(ping: HTTP2PingData, deadline: NIODeadline)
        /// The PING was answered and the second GOAWAY went out.
        case finalGoAwaySent(deadline: NIODeadline)
        case closing

        var isClosing: Bool {
            if case .closing = self { true } else { false }
        }
    }

    /// Enters `.closing` (timers off); false if the connection was closing already.
    func beginClosing() -> Bool {
        guard !shutdown.isClosing else { return false }
        shutdown = .closing
        timer.cancel()
        return true
    }

    /// No stream is open: the idle clock starts (a drained connection closes instead).
    func becameIdle() {
        guard idleSince == nil, case .open = shutdown else { return }
        idleSince = worker.now
        if let idleTimeout { arm(worker.now + idleTimeout) }
    }

    /// The last open stream ended.
    func lastStreamEnded() {
        switch shutdown {
        case .open: becameIdle()
        case .finalGoAwaySent: close()
        case .goAwaySent, .closing: break  // the PING's ACK or the deadline decides
        }
    }

    func startGracefulClose() {
        guard case .open = shutdown, context != nil else { return }
        let ping = HTTP2PingData(withInteger: UInt64.random(in: .min ... .max))
        let deadline = worker.now + drainTimeout
        shutdown = .goAwaySent(ping: ping, deadline: deadline)
        write(.goAway(lastStreamID: .maxID, errorCode: .noError, opaqueData: nil), on: .rootStream)
        write(.ping(ping, ack: false), on: .rootStream)
        flush()
        arm(deadline)
    }

    func pingAcknowledged(_ data: HTTP2PingData) {
        guard case .goAwaySent(let ping, let deadline) = shutdown, ping == data else { return }
        write(.goAway(lastStreamID: lastClientStream, errorCode: .noError, opaqueData: nil), on: .rootStream)
        if streams.isEmpty {
            close()
        } else {
            shutdown = .finalGoAwaySent(deadline: deadline)
            flush()
        }
    }

    /// Closes once what was written has gone out. The close waits for the next turn of the event
    /// loop: the last stream ends while its final frame is still being written.
    private func close() {
        guard beginClosing(), let loop = context?.eventLoop.assumeIsolated() else { return }
        loop.execute { [self] in
            flushNow()
            connection.closeAfterFlush()
        }
    }

    func arm(_ deadline: NIODeadline) {
        timer.arm(at: deadline, on: worker.loop, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer.fired()
        guard let context else { return }
        let now = eventLoop.now
        switch shutdown {
        case .goAwaySent(_, let deadline), .finalGoAwaySent(let deadline):
            // The drain's time is up: streams still open end with the connection.
            if deadline > now { return arm(deadline) }
            if beginClosing() { context.close(promise: nil) }
        case .open:
            // While a stream is open the idle clock is stopped; the last one to end restarts it.
            guard let idleTimeout, streams.isEmpty, let since = idleSince else { return }
            if since + idleTimeout > now { return arm(since + idleTimeout) }
            worker.stats.inc(connection.hcmStats.cxIdleTimeout)
            startGracefulClose()
        case .closing:
            break
        }
    }
}
