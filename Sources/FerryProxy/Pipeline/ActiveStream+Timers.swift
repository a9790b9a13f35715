import FerryTelemetry
import NIOCore

/// Stream timers share one scheduled callback set for the earliest deadline: the route
/// timeout, the request timeout and the stream idle timeout (checked against the last
/// activity, so traffic never reschedules anything).
extension ActiveStream: NIOScheduledCallbackHandler {
    func startRouteTimer() {
        guard let action = routeAction, action.timeout > .zero, routeDeadline == nil, !responseStarted, cluster != nil else { return }
        routeDeadline = (requestEndedAt ?? .now()) + action.timeout
        armTimer()
    }

    func armTimer() {
        guard !finished else { return }
        var next: NIODeadline?
        for candidate in [routeDeadline, requestDeadline, idleTimeout.map { lastActivity + $0 }] {
            if let c = candidate, next == nil || c < next! { next = c }
        }
        guard let next else { return }
        if let current = timerDeadline, timer != nil, current <= next { return }
        timer?.cancel()
        timerDeadline = next
        timer = try? worker.loop.assumeIsolated().scheduleCallback(at: next, handler: self)
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        timerDeadline = nil
        guard !finished else { return }
        let now = NIODeadline.now()
        if let deadline = routeDeadline, deadline <= now {
            routeDeadline = nil
            return onRouteTimeout()
        }
        if let deadline = requestDeadline, deadline <= now, !requestEnded {
            requestDeadline = nil
            shard.inc(stats.rqTimeout)
            abortUpstream()
            encoder.closeAfterResponse()
            return sendLocalReply(408, body: "request timeout", details: "request_overall_timeout")
        }
        if let idle = idleTimeout, lastActivity + idle <= now {
            shard.inc(stats.rqIdleTimeout)
            flags.insert(.streamIdleTimeout)
            abortUpstream()
            if !requestEnded { encoder.closeAfterResponse() }
            // Envoy: 504 when the request was complete and the upstream went quiet, else 408.
            return sendLocalReply(requestEnded ? 504 : 408, body: "stream timeout", details: "stream_idle_timeout")
        }
        armTimer()
    }

    private func onRouteTimeout() {
        if let cluster { shard.inc(cluster.definition.stats.upstreamRqTimeout) }
        pool?.counters.rqTimeout += 1
        flags.insert(.upstreamRequestTimeout)
        abortUpstream()
        sendLocalReply(504, body: "upstream request timeout", details: "response_timeout")
    }
}
