import FerryConfig
import FerryTelemetry
import NIOCore
import NIOHTTP2

/// Multiplexed HTTP/2 connections to one upstream host, owned by one loop. A request becomes a
/// stream on the first ready connection with room: fewer open streams than
/// min(`max_concurrent_streams`, the peer's SETTINGS_MAX_CONCURRENT_STREAMS), fewer streams
/// opened than `max_requests_per_connection`, and no GOAWAY received. Otherwise it waits
/// (pending) and, when the connections being opened cannot take all waiters, a new connection
/// opens.
///
/// Circuit breakers as the HTTP/1 pool: a request that finds no room is pending
/// (`max_pending_requests`, else 503 UO); a new connection needs `max_connections` (or the pool
/// has none at all, as Envoy); each stream claims a request (`max_requests`, else 503 UO).
final class HTTP2ConnectionPool: UpstreamPool {
    let host: UpstreamHost
    /// Strong, as in `HTTP1ConnectionPool`: busy connections keep a retired cluster alive.
    let cluster: WorkerCluster
    /// Connected connections (ready or waiting for the peer's first SETTINGS), oldest first.
    private var connections: [UpstreamHTTP2Connection] = []
    private var waiting = CircularBuffer<ActiveStream>()
    private(set) var connectingCount = 0
    private(set) var activeStreams = 0
    private(set) var draining = false
    var counters = HostCounters()
    var outlier: OutlierHostMonitor?

    init(host: UpstreamHost, cluster: WorkerCluster, draining: Bool = false) {
        self.host = host
        self.cluster = cluster
        self.draining = draining
    }

    private var worker: Worker { cluster.worker }
    private var stats: ClusterStats { cluster.definition.stats }
    private var resources: ClusterResources { cluster.resources }
    var options: Http2ProtocolOptions { cluster.definition.config.upstreamProtocol.http2 }

    var load: Int { activeStreams + connectingCount + waiting.count }
    var activeRequests: Int { activeStreams }
    var openConnections: Int { connections.count }

    /// Streams a connection may carry over its life (`max_requests_per_connection`), or nil.
    private var streamsPerConnection: Int? { cluster.definition.maxRequestsPerConnection }

    func newStream(_ stream: ActiveStream) {
        counters.rqTotal += 1
        if let connection = connectionWithRoom() { return attach(stream, to: connection, pending: false) }
        guard cluster.admitPending(stream) else { return }
        waiting.append(stream)
        openConnectionsForWaiters()
    }

    func cancel(_ stream: ActiveStream) {
        guard stream.isAwaitingConnection else { return }
        stream.isAwaitingConnection = false
        if let i = waiting.firstIndex(where: { $0 === stream }) { waiting.remove(at: i) }
        endPending()
    }

    private func endPending() { cluster.endPending() }

    private func connectionWithRoom() -> UpstreamHTTP2Connection? {
        connections.first { $0.hasRoom }
    }

    /// Streams the connections being opened will take at first (the peer's limit is unknown yet).
    private var connectingCapacity: Int {
        let perConnection = min(Int(options.maxConcurrentStreams), streamsPerConnection ?? Int.max)
        return connectingCount.multipliedReportingOverflow(by: perConnection).overflow ? Int.max : connectingCount * perConnection
    }

    /// Opens connections while the waiters outnumber what the opening ones will take and
    /// `max_connections` allows (a pool with no connection at all may always open one).
    private func openConnectionsForWaiters() {
        while waiting.count > connectingCapacity {
            if !resources.connections.tryAcquire() {
                worker.stats.inc(stats.upstreamCxOverflow)
                guard connections.isEmpty, connectingCount == 0 else { return }
                resources.connections.acquire()
            }
            connect()
        }
    }

    /// Claims a request slot and opens a stream for `stream` on `connection`; at max_requests
    /// the stream gets 503 UO.
    private func attach(_ stream: ActiveStream, to connection: UpstreamHTTP2Connection, pending: Bool) {
        if pending { endPending() }
        guard resources.requests.tryAcquire() else {
            worker.stats.inc(stats.upstreamRqPendingOverflow)
            return stream.onPoolOverflow()
        }
        activeStreams += 1
        // The stream is no longer waiting for the pool: its upstream stream is on the way.
        stream.isAwaitingConnection = false
        connection.openStream(for: stream)
    }

    /// Serves waiters from connections with room, then opens connections for the rest.
    func dispatchWaiters() {
        while !waiting.isEmpty, let connection = connectionWithRoom() {
            attach(waiting.removeFirst(), to: connection, pending: true)
        }
        if !waiting.isEmpty { openConnectionsForWaiters() }
    }

    private func connect() {
        connectingCount += 1
        if cluster.usesALPN { return connectByALPN() }
        worker.stats.inc(stats.upstreamCxHTTP2Total)
        let options = options, definition = cluster.definition
        let opened = cluster.openUpstreamChannel(to: host, counters: &counters) { channel in
            try UpstreamHTTP2Connection.install(on: channel, options: options, bufferLimit: definition.bufferLimit,
                                                scheme: definition.tls == nil ? "http" : "https")
        }
        opened.assumeIsolated().whenComplete { [self] result in
            worker.tick()
            switch result {
            case .success(let channel): connected(channel)
            case .failure(let error):
                connectingCount -= 1
                connectFailed(reason: cluster.countConnectFailure(error, counters: &counters))
            }
        }
    }

    /// `auto_config`: the connection speaks what ALPN chose. When the host answers HTTP/1, the
    /// connection and the requests waiting here move to its HTTP/1 pool.
    private func connectByALPN() {
        cluster.openAutoChannel(to: host, counters: &counters).assumeIsolated().whenComplete { [self] result in
            worker.tick()
            switch result {
            case .success(let (channel, codec)):
                cluster.learn(codec, for: host)
                if codec == .http2 { return install(on: channel) }
                connectingCount -= 1
                let movers = Array(waiting)
                waiting.removeAll()
                cluster.pool(for: host).adopt(channel, waiters: movers)
            case .failure(let error):
                connectingCount -= 1
                connectFailed(reason: cluster.countConnectFailure(error, counters: &counters))
            }
        }
    }

    /// Adds the HTTP/2 handlers to a connection whose TLS handshake chose `h2`.
    private func install(on channel: Channel) {
        let definition = cluster.definition
        do {
            try UpstreamHTTP2Connection.install(on: channel, options: options, bufferLimit: definition.bufferLimit, scheme: "https")
        } catch {
            channel.close(promise: nil)
            connectingCount -= 1
            return connectFailed(reason: "channel setup failed")
        }
        connected(channel)
    }

    /// `channel` (with its HTTP/2 handlers) is connected; it is ready once the peer's SETTINGS arrive.
    private func connected(_ channel: Channel) {
        guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamHTTP2Connection.self) else {
            channel.close(promise: nil)
            connectingCount -= 1
            return connectFailed(reason: "channel setup failed")
        }
        connection.pool = self
        worker.stats.add(stats.upstreamCxActive, 1)
        connection.countedActive = true
        connections.append(connection)
        // Ready once the peer's SETTINGS arrive (`connectionReady`).
    }

    /// `auto_config`: a connection the host's HTTP/1 pool opened whose ALPN chose `h2`, with
    /// the requests that waited there (still pending; the connection slot comes along). An
    /// upgrade cannot go over HTTP/2 and fails as a connection failure.
    func adopt(_ channel: Channel, waiters: [ActiveStream]) {
        for stream in waiters {
            guard stream.upgradeType == nil else {
                stream.isAwaitingConnection = false
                endPending()
                stream.onPoolFailure(.connectionFailure, reason: "the upstream chose HTTP/2 by ALPN, which cannot carry an upgrade")
                continue
            }
            stream.pool = self
            stream.upstreamCodec = .http2
            waiting.append(stream)
        }
        connectingCount += 1
        install(on: channel)
    }

    /// The peer's first SETTINGS arrived: the connection takes streams.
    func connectionReady(_ connection: UpstreamHTTP2Connection) {
        connectingCount -= 1
        dispatchWaiters()
        // A retired cluster's pool serves the streams that wait for it, then lets the connection go.
        if draining { connection.goAwayLocally() }
    }

    /// A connect failed: its slot frees; waiters the remaining connects cannot take fail (as
    /// Envoy's pool, which fails pending streams when no connection is left for them).
    private func connectFailed(reason: String) {
        resources.connections.release()
        while waiting.count > connectingCapacity, connectionWithRoom() == nil {
            let stream = waiting.removeLast()
            stream.isAwaitingConnection = false
            endPending()
            stream.onPoolFailure(.connectionFailure, reason: reason)
        }
        dispatchWaiters()
    }

    /// A stream of `connection` ended: its request slot frees. Waiters are served on the next
    /// loop turn: a stream ends inside the codec's handling of a GOAWAY or a close, before this
    /// pool hears about the connection's state.
    func streamEnded(on connection: UpstreamHTTP2Connection) {
        activeStreams -= 1
        resources.requests.release()
        guard !waiting.isEmpty, !dispatchScheduled else { return }
        dispatchScheduled = true
        worker.loop.assumeIsolated().execute { [self] in
            dispatchScheduled = false
            dispatchWaiters()
        }
    }

    private var dispatchScheduled = false

    /// The connection closed: forget it; a connection that closed before it was ready counts
    /// as a failed connect for the waiters.
    func remove(_ connection: UpstreamHTTP2Connection, wasReady: Bool) {
        if let i = connections.firstIndex(where: { $0 === connection }) { connections.remove(at: i) }
        if !wasReady {
            connectingCount -= 1
            return connectFailed(reason: "connection closed before HTTP/2 settings")
        }
        resources.connections.release()
        dispatchWaiters()
    }

    func drain() {
        draining = true
        for connection in connections { connection.goAwayLocally() }
    }
}
