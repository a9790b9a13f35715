import NIOCore

/// Closing and the connection-level timers (request headers timeout, downstream idle timeout):
/// one scheduled callback per connection, moved only when a nearer deadline appears.
extension DownstreamHTTP1Handler {
    func writeRaw(_ text: String) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
    }

    func closeAfterFlush() {
        guard let context, !closing else { return }
        closing = true
        context.close(afterFlushing: .all)
    }

    /// Closes without waiting for the writes; what was written before goes out first, as it
    /// would have had flushes not waited for the end of the event-loop iteration.
    func closeNow() {
        guard !closing || context?.channel.isActive == true else { return }
        closing = true
        context?.flush()
        context?.close(promise: nil)
    }

    /// Closes the connection if it is idle (drain, listener removed).
    func closeIfIdle() {
        if stream == nil { closeAfterFlush() } else { closeAfter = true }
    }

    func becomeIdle() {
        idleSince = worker.now
        if let timeout = hcm.idleTimeout { arm(worker.now + timeout) }
    }

    func arm(_ deadline: NIODeadline) {
        timer.arm(at: deadline, on: worker.loop, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer.fired()
        guard !closing else { return }
        let now = eventLoop.now
        var next: NIODeadline?
        if stream == nil, let started = headStartedAt, let timeout = hcm.requestHeadersTimeout {
            if started + timeout <= now { return headersTimedOut() }
            next = started + timeout
        }
        if stream == nil, let since = idleSince, let timeout = hcm.idleTimeout {
            if since + timeout <= now {
                shard.inc(hcmStats.cxIdleTimeout)
                closeAfterFlush()
                return
            }
            next = min(next ?? since + timeout, since + timeout)
        } else if stream != nil, let timeout = hcm.idleTimeout {
            next = min(next ?? now + timeout, now + timeout)
        }
        if let next { arm(next) }
    }

    /// The request head did not arrive within request_headers_timeout: 408 and close (as Envoy).
    func headersTimedOut() {
        shard.inc(hcmStats.rqHeaderTimeout)
        closeAfter = true
        refuseHead(408, body: "request header timeout", details: "request_header_timeout")
    }
}
