import FerryTelemetry
import NIOCore
import NIOPosix

/// The upstream connection of a tcp_proxy session, as Envoy's tcp_proxy makes it: the cluster
/// (picked once; `weighted_clusters` by weight), a host from its load balancer for each attempt,
/// the cluster's `max_connections` circuit breaker and `connect_timeout`, up to
/// `max_connect_attempts` attempts; then failure closes the downstream.
extension TCPProxyHandler {
    func connectUpstream() {
        if cluster == nil {
            let target = proxy.pickTarget(using: &worker.random)
            guard let found = worker.cluster(named: target.name) else {
                shard.inc(proxy.stats.cxNoRoute)
                flags.insert(.noClusterFound)
                return closeAfterFlush()
            }
            cluster = found
        }
        guard let cluster, !closing else { return }
        let stats = cluster.definition.stats
        guard let host = cluster.pickHost() else {
            flags.insert(.noHealthyUpstream)
            return closeAfterFlush()
        }
        guard cluster.resources.connections.tryAcquire() else {
            shard.inc(stats.upstreamCxOverflow)
            flags.insert(.upstreamOverflow)
            return closeAfterFlush()
        }
        self.host = host
        attempts += 1
        shard.inc(stats.upstreamCxTotal)
        cluster.resources.noteTraffic()
        cluster.pool(for: host).counters.cxTotal += 1
        let definition = cluster.definition
        ClientBootstrap(group: worker.loop)
            .connectTimeout(definition.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelOption(.writeBufferWaterMark, value: .init(low: max(1, definition.bufferLimit / 2), high: max(2, definition.bufferLimit)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(TCPProxyUpstreamHandler()) }
            }
            .connect(to: host.address).assumeIsolated().whenComplete { [self] result in
                worker.tick()
                switch result {
                case .success(let channel):
                    if let handler = try? channel.pipeline.syncOperations.handler(type: TCPProxyUpstreamHandler.self) {
                        connected(channel, handler: handler, cluster: cluster, host: host)
                    } else {
                        channel.close(promise: nil)
                        connectFailed(ChannelError.ioOnClosedChannel, cluster: cluster, host: host)
                    }
                case .failure(let error): connectFailed(error, cluster: cluster, host: host)
                }
            }
    }

    private func connected(_ channel: Channel, handler: TCPProxyUpstreamHandler, cluster: WorkerCluster, host: UpstreamHost) {
        let stats = cluster.definition.stats
        shard.add(stats.upstreamCxActive, 1)
        cluster.pool(for: host).outlier?.record(.connectSuccess)
        handler.stats = stats
        handler.session = self
        guard !closing else {
            // The downstream went away while connecting.
            handler.closeNow()
            return
        }
        upstream = handler
        upstreamLocal = channel.localAddress.map(UpstreamHost.format)
        lastActivity = worker.now
        if let bytes = early, bytes.readableBytes > 0 {
            early = nil
            handler.write(bytes)
            handler.flush()
        }
        if downstreamInputClosed { handler.shutdownOutputAfterFlush() }
        startIdleTimer()
        resumeDownstreamReading()
        handler.resumeReading()
    }

    private func connectFailed(_ error: any Error, cluster: WorkerCluster, host: UpstreamHost) {
        let stats = cluster.definition.stats
        cluster.resources.connections.release()
        shard.inc(stats.upstreamCxConnectFail)
        // Envoy counts a failed connect as a connection destroyed by the remote end.
        shard.inc(stats.upstreamCxDestroy)
        shard.inc(stats.upstreamCxDestroyRemote)
        let pool = cluster.pool(for: host)
        pool.counters.cxConnectFail += 1
        pool.outlier?.record(.connectFailed)
        if let channelError = error as? ChannelError, case .connectTimeout = channelError {
            shard.inc(stats.upstreamCxConnectTimeout)
            failureReason = "connection timeout"
        } else {
            failureReason = WorkerCluster.describe(error)
        }
        guard !closing else { return }
        if attempts < proxy.maxConnectAttempts { return connectUpstream() }
        shard.inc(stats.upstreamCxConnectAttemptsExceeded)
        flags.insert(.upstreamConnectionFailure)
        flags.insert(.upstreamRetryLimitExceeded)
        closeAfterFlush()
    }

    /// The upstream connection closed (FIN both ways, reset, or closed by Ferry): the
    /// downstream follows once what the host sent is written.
    func upstreamClosed(_ handler: TCPProxyUpstreamHandler) {
        if let cluster {
            let stats = cluster.definition.stats
            shard.add(stats.upstreamCxActive, -1)
            shard.inc(stats.upstreamCxDestroy)
            shard.inc(handler.closedLocally ? stats.upstreamCxDestroyLocal : stats.upstreamCxDestroyRemote)
            cluster.resources.connections.release()
        }
        guard upstream === handler else { return }
        upstream = nil
        closeAfterFlush()
    }
}
