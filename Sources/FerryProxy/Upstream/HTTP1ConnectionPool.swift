import FerryTelemetry
import NIOCore

/// Keep-alive HTTP/1.1 connections to one upstream host, owned by one loop. A request takes
/// the most recently used idle connection (warmest) or opens a new one; one request per
/// connection at a time. Idle connections close after the cluster's idle_timeout.
///
/// Circuit breakers (the cluster's `ClusterResources`, shared by all loops): a request that
/// finds no idle connection is pending (`max_pending_requests`, else 503 UO); it opens a
/// connection when `max_connections` allows (or the pool has none at all, as Envoy), otherwise
/// it waits in this pool's FIFO for a released or closed connection, or its route timeout.
/// Attaching to a connection claims a request (`max_requests`, else 503 UO).
final class HTTP1ConnectionPool: UpstreamPool {
    let host: UpstreamHost
    /// Strong: a connection still busy with a request of a replaced or removed cluster keeps
    /// its pool, and the pool keeps that cluster, until the connection closes. The cycle with
    /// the cluster's own pool table is broken when the cluster drains its pools.
    let cluster: WorkerCluster
    private var idle: [UpstreamHTTP1Connection] = []
    /// Pending requests that could not open a connection (max_connections reached), oldest first.
    private var waiting = CircularBuffer<ActiveStream>()
    private(set) var activeCount = 0
    private(set) var connectingCount = 0
    private(set) var draining = false
    /// Per-host counters for `/clusters` (this loop's share; the admin API sums loops).
    var counters = HostCounters()
    /// Where this host's results go for outlier detection (nil without `outlier_detection`).
    var outlier: OutlierHostMonitor?

    init(host: UpstreamHost, cluster: WorkerCluster, draining: Bool = false) {
        self.host = host
        self.cluster = cluster
        self.draining = draining
    }

    var idleCount: Int { idle.count }
    var waitingCount: Int { waiting.count }
    var load: Int { activeCount + connectingCount + waiting.count }
    var activeRequests: Int { activeCount }
    var openConnections: Int { activeCount + idle.count }
    private var worker: Worker { cluster.worker }
    private var stats: ClusterStats { cluster.definition.stats }
    private var resources: ClusterResources { cluster.resources }

    /// Gives `stream` a connection now (idle one) or once one is connected or released.
    func newStream(_ stream: ActiveStream) {
        counters.rqTotal += 1
        if let connection = takeIdle() { return attach(stream, to: connection, pending: false) }
        guard cluster.admitPending(stream) else { return }
        if !openConnection(for: stream) { waiting.append(stream) }
    }

    /// The stream finished while waiting for a connection: it stops being pending. A connect
    /// made for it goes on and serves the next request.
    func cancel(_ stream: ActiveStream) {
        guard stream.isAwaitingConnection else { return }
        stream.isAwaitingConnection = false
        if let i = waiting.firstIndex(where: { $0 === stream }) { waiting.remove(at: i) }
        endPending()
    }

    private func takeIdle() -> UpstreamHTTP1Connection? {
        while let connection = idle.popLast() {
            if connection.isUsable { return connection }
        }
        return nil
    }

    private func endPending() { cluster.endPending() }

    /// Claims a request slot and hands `connection` to `stream`; at max_requests the stream
    /// gets 503 UO and the connection stays for the next request.
    private func attach(_ stream: ActiveStream, to connection: UpstreamHTTP1Connection, pending: Bool) {
        if pending { endPending() }
        guard resources.requests.tryAcquire() else {
            // Envoy counts this limit under the pending overflow counter too.
            worker.stats.inc(stats.upstreamRqPendingOverflow)
            keepIdle(connection)
            return stream.onPoolOverflow()
        }
        activeCount += 1
        connection.attach(stream)
        stream.onPoolReady(connection)
    }

    /// Opens a connection for `stream` if max_connections allows, or if this pool has no
    /// connection at all (Envoy's rule, so a pool never waits on other hosts' connections).
    private func openConnection(for stream: ActiveStream) -> Bool {
        if !resources.connections.tryAcquire() {
            worker.stats.inc(stats.upstreamCxOverflow)
            guard idle.isEmpty, activeCount == 0, connectingCount == 0 else { return false }
            resources.connections.acquire()
        }
        connect(for: stream)
        return true
    }

    /// Serves waiting requests from idle connections, then with new connections while the
    /// limits allow. Each round removes a waiter, so this ends.
    private func dispatchWaiters() {
        while let next = waiting.first {
            if let connection = takeIdle() {
                waiting.removeFirst()
                attach(next, to: connection, pending: true)
            } else if openConnection(for: next) {
                waiting.removeFirst()
            } else {
                return
            }
        }
    }

    private func connect(for stream: ActiveStream) {
        connectingCount += 1
        if cluster.usesALPN { return connectByALPN(for: stream) }
        worker.stats.inc(stats.upstreamCxHTTP1Total)
        let opened = cluster.openUpstreamChannel(to: host, counters: &counters) { channel in
            try channel.pipeline.syncOperations.addHandler(UpstreamHTTP1Connection())
        }
        opened.assumeIsolated().whenComplete { [self] result in
            cluster.worker.tick()  // timestamps of the attempt count from the connect's outcome
            connectingCount -= 1
            switch result {
            case .success(let channel): connected(channel, for: stream)
            case .failure(let error): connectFailed(stream, reason: cluster.countConnectFailure(error, counters: &counters))
            }
        }
    }

    /// `auto_config`: the connection speaks what ALPN chose. When that is HTTP/2, the host
    /// speaks it: the connection and every request waiting here move to its HTTP/2 pool.
    private func connectByALPN(for stream: ActiveStream) {
        cluster.openAutoChannel(to: host, counters: &counters).assumeIsolated().whenComplete { [self] result in
            cluster.worker.tick()
            connectingCount -= 1
            switch result {
            case .success(let (channel, codec)):
                cluster.learn(codec, for: host)
                guard codec == .http2 else { return install(on: channel, for: stream) }
                var movers = stream.isAwaitingConnection ? [stream] : []
                movers += waiting
                waiting.removeAll()
                cluster.http2Pool(for: host).adopt(channel, waiters: movers)
            case .failure(let error):
                connectFailed(stream, reason: cluster.countConnectFailure(error, counters: &counters))
            }
        }
    }

    /// `channel` (with its `UpstreamHTTP1Connection`) is connected: it serves `stream`, or the
    /// next request when `stream` went away meanwhile.
    private func connected(_ channel: Channel, for stream: ActiveStream?) {
        guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamHTTP1Connection.self) else {
            channel.close(promise: nil)
            return connectFailed(stream, reason: "channel setup failed")
        }
        connection.pool = self
        worker.stats.add(stats.upstreamCxActive, 1)
        connection.countedActive = true
        if let stream, stream.isAwaitingConnection {
            attach(stream, to: connection, pending: true)
        } else {
            // The stream went away while connecting: keep the connection for the next one.
            release(connection)
        }
    }

    /// `auto_config`: a connection another pool opened whose ALPN chose HTTP/1, with the
    /// requests that waited there (still pending; their connection slot comes along).
    func adopt(_ channel: Channel, waiters: [ActiveStream]) {
        for stream in waiters {
            stream.pool = self
            stream.upstreamCodec = .http1
        }
        var rest = waiters[...]
        let first = rest.popFirst()
        waiting.append(contentsOf: rest)
        install(on: channel, for: first)
    }

    /// Adds the HTTP/1 handler to a connection whose TLS handshake chose HTTP/1.1 (or nothing).
    private func install(on channel: Channel, for stream: ActiveStream?) {
        do {
            try channel.pipeline.syncOperations.addHandler(UpstreamHTTP1Connection())
        } catch {
            channel.close(promise: nil)
            return connectFailed(stream, reason: "channel setup failed")
        }
        connected(channel, for: stream)
    }

    /// The connect made for `stream` failed: its connection slot frees (a waiter may use it).
    private func connectFailed(_ stream: ActiveStream?, reason: String) {
        resources.connections.release()
        if let stream, stream.isAwaitingConnection {
            endPending()
            stream.onPoolFailure(.connectionFailure, reason: reason)
        }
        dispatchWaiters()
    }

    /// A request finished on `connection`: keep it for reuse (a waiting request first) or close it.
    func release(_ connection: UpstreamHTTP1Connection) {
        if connection.isAttachedToPool {
            activeCount -= 1
            resources.requests.release()
        }
        connection.detach()
        if let max = cluster.definition.maxRequestsPerConnection, connection.requestsServed >= max {
            worker.stats.inc(stats.upstreamCxMaxRequests)
            connection.closeLocally()
            return
        }
        keepIdle(connection)
        dispatchWaiters()
    }

    private func keepIdle(_ connection: UpstreamHTTP1Connection) {
        guard connection.isUsable, !draining else {
            connection.closeLocally()
            return
        }
        idle.append(connection)
        connection.becameIdle(timeout: cluster.definition.idleTimeout)
    }

    /// The connection closed or failed: forget it; its connection slot may serve a waiter.
    func remove(_ connection: UpstreamHTTP1Connection) {
        if let i = idle.firstIndex(where: { $0 === connection }) { idle.remove(at: i) }
        if connection.isAttachedToPool {
            activeCount -= 1
            resources.requests.release()
        }
        resources.connections.release()
        dispatchWaiters()
    }

    /// Close idle connections and stop reusing active ones (host removed, cluster changed, shutdown).
    func drain() {
        draining = true
        let idleNow = idle
        idle.removeAll()
        for connection in idleNow { connection.closeLocally() }
    }
}

/// Request and connection counts for one host, kept per loop.
public struct HostCounters: Sendable {
    public var cxTotal = 0
    public var cxConnectFail = 0
    public var rqTotal = 0
    public var rqSuccess = 0
    public var rqError = 0
    public var rqTimeout = 0

    public init() {}

    mutating func add(_ o: HostCounters) {
        cxTotal += o.cxTotal
        cxConnectFail += o.cxConnectFail
        rqTotal += o.rqTotal
        rqSuccess += o.rqSuccess
        rqError += o.rqError
        rqTimeout += o.rqTimeout
    }
}
