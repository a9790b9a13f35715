import FerryTelemetry
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// What every pool does the same way, whatever its codec: opening one upstream connection (TCP
/// on the worker's loop with `connect_timeout`, the cluster's buffer limit as write watermarks,
/// TLS with its handshake within the connect timeout and `ssl.*` stats when the cluster has a
/// transport socket, then the codec's handlers), and the pending-request circuit breaker.
extension WorkerCluster {
    /// Counts the attempt (`upstream_cx_total`, the host's cx total) and connects to `host`;
    /// `codec` adds the protocol handlers in the channel initializer, after TLS.
    func openUpstreamChannel(to host: UpstreamHost, counters: inout HostCounters,
                             codec: @escaping (Channel) throws -> Void) -> EventLoopFuture<Channel> {
        connectUpstream(to: host, counters: &counters, codec: codec).map(\.channel)
    }

    /// `auto_config`: connects with TLS offering `h2` and `http/1.1` and reports the codec the
    /// handshake's ALPN chose (HTTP/1 when the server chose none, as Envoy). The caller adds
    /// that codec's handlers.
    func openAutoChannel(to host: UpstreamHost, counters: inout HostCounters) -> EventLoopFuture<(channel: Channel, codec: UpstreamCodec)> {
        connectUpstream(to: host, counters: &counters) { _ in }.map { ($0.channel, $0.alpn == "h2" ? .http2 : .http1) }
    }

    private func connectUpstream(to host: UpstreamHost, counters: inout HostCounters,
                                 codec: @escaping (Channel) throws -> Void) -> EventLoopFuture<(channel: Channel, alpn: String?)> {
        counters.cxTotal += 1
        worker.stats.inc(definition.stats.upstreamCxTotal)
        resources.noteTraffic()
        let definition = self.definition
        // The channel is made on the worker's loop, so its initializer runs there.
        let codec = NIOLoopBound(codec, eventLoop: worker.loop)
        let bootstrap = ClientBootstrap(group: worker.loop)
            .connectTimeout(definition.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: max(1, definition.bufferLimit / 2), high: max(2, definition.bufferLimit)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try definition.tls?.addHandlers(to: channel, timeout: definition.connectTimeout)
                    try codec.value(channel)
                }
            }
        let connected = bootstrap.connect(to: host.address)
        guard let tls = definition.tls else { return connected.map { ($0, nil) } }
        let negotiated = connected.flatMap(CompiledUpstreamTLS.negotiation(of:))
        negotiated.assumeIsolated().whenComplete { [worker] result in
            switch result {
            case .success: worker.stats.inc(tls.stats.handshake)
            case .failure(let failure as UpstreamTLSFailure):
                for counter in tls.stats.failure(failure.underlying) { worker.stats.inc(counter) }
            case .failure: break
            }
        }
        return negotiated
    }

    /// A connect failed: counts it and returns Envoy's reason ("connection timeout", or the
    /// transport failure such as "delayed connect error: Connection refused").
    func countConnectFailure(_ error: any Error, counters: inout HostCounters) -> String {
        counters.cxConnectFail += 1
        worker.stats.inc(definition.stats.upstreamCxConnectFail)
        if error is ChannelError, case ChannelError.connectTimeout = error as! ChannelError {
            worker.stats.inc(definition.stats.upstreamCxConnectTimeout)
            return "connection timeout"
        }
        return Self.describe(error)
    }

    /// A request found no connection ready for it: it becomes pending (`max_pending_requests`;
    /// false after answering it 503 UO).
    func admitPending(_ stream: ActiveStream) -> Bool {
        guard resources.pendingRequests.tryAcquire() else {
            worker.stats.inc(definition.stats.upstreamRqPendingOverflow)
            stream.onPoolOverflow()
            return false
        }
        worker.stats.inc(definition.stats.upstreamRqPendingTotal)
        worker.stats.add(definition.stats.upstreamRqPendingActive, 1)
        return true
    }

    /// A pending request got a connection or went away.
    func endPending() {
        resources.pendingRequests.release()
        worker.stats.add(definition.stats.upstreamRqPendingActive, -1)
    }

    /// Envoy's transport failure text, e.g. "delayed connect error: Connection refused".
    static func describe(_ error: any Error) -> String {
        func text(_ code: Int32) -> String { String(cString: strerror(code)) }
        if let io = error as? IOError { return "delayed connect error: \(text(io.errnoCode))" }
        if let nio = error as? NIOConnectionError, let first = nio.connectionErrors.first {
            if let io = first.error as? IOError { return "delayed connect error: \(text(io.errnoCode))" }
            return "\(first.error)"
        }
        return "\(error)"
    }
}
