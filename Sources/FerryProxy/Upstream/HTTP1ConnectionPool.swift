import FerryTelemetry
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Keep-alive HTTP/1.1 connections to one upstream host, owned by one loop. A request takes
/// the most recently used idle connection (warmest) or opens a new one; one request per
/// connection at a time. Idle connections close after the cluster's idle_timeout.
final class HTTP1ConnectionPool {
    let host: UpstreamHost
    /// Strong: a connection still busy with a request of a replaced or removed cluster keeps
    /// its pool, and the pool keeps that cluster, until the connection closes. The cycle with
    /// the cluster's own pool table is broken when the cluster drains its pools.
    let cluster: WorkerCluster
    private var idle: [UpstreamHTTP1Connection] = []
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
    private var worker: Worker { cluster.worker }
    private var stats: ClusterStats { cluster.definition.stats }

    /// Gives `stream` a connection now (idle one) or once a new one is connected.
    func newStream(_ stream: ActiveStream) {
        counters.rqTotal += 1
        while let connection = idle.popLast() {
            guard connection.isUsable else { continue }
            activeCount += 1
            connection.attach(stream)
            stream.onPoolReady(connection)
            return
        }
        connect(for: stream)
    }

    private func connect(for stream: ActiveStream) {
        connectingCount += 1
        counters.cxTotal += 1
        worker.stats.inc(stats.upstreamCxTotal)
        worker.stats.inc(stats.upstreamCxHTTP1Total)
        worker.stats.inc(stats.upstreamRqPendingTotal)
        worker.stats.add(stats.upstreamRqPendingActive, 1)
        let definition = cluster.definition
        let bootstrap = ClientBootstrap(group: worker.loop)
            .connectTimeout(definition.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.writeBufferWaterMark, value: .init(low: max(1, definition.bufferLimit / 2), high: max(2, definition.bufferLimit)))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UpstreamHTTP1Connection())
                }
            }
        bootstrap.connect(to: host.address).assumeIsolated().whenComplete { [self] result in
            cluster.worker.tick()  // timestamps of the attempt count from the connect's outcome
            connectingCount -= 1
            worker.stats.add(stats.upstreamRqPendingActive, -1)
            switch result {
            case .success(let channel):
                guard let connection = try? channel.pipeline.syncOperations.handler(type: UpstreamHTTP1Connection.self) else {
                    channel.close(promise: nil)
                    stream.onPoolFailure(.connectionFailure, reason: "channel setup failed")
                    return
                }
                connection.pool = self
                worker.stats.add(stats.upstreamCxActive, 1)
                connection.countedActive = true
                if stream.isAwaitingConnection {
                    activeCount += 1
                    connection.attach(stream)
                    stream.onPoolReady(connection)
                } else {
                    // The stream went away while connecting: keep the connection for the next one.
                    release(connection)
                }
            case .failure(let error):
                counters.cxConnectFail += 1
                worker.stats.inc(stats.upstreamCxConnectFail)
                if error is ChannelError, case ChannelError.connectTimeout = error as! ChannelError {
                    worker.stats.inc(stats.upstreamCxConnectTimeout)
                    stream.onPoolFailure(.connectionFailure, reason: "connection timeout")
                } else {
                    stream.onPoolFailure(.connectionFailure, reason: Self.describe(error))
                }
            }
        }
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

    /// A request finished on `connection`: keep it for reuse or close it.
    func release(_ connection: UpstreamHTTP1Connection) {
        if connection.isAttachedToPool { activeCount -= 1 }
        connection.detach()
        if let max = cluster.definition.maxRequestsPerConnection, connection.requestsServed >= max {
            worker.stats.inc(stats.upstreamCxMaxRequests)
            connection.closeLocally()
            return
        }
        guard connection.isUsable, !draining else {
            connection.closeLocally()
            return
        }
        idle.append(connection)
        connection.becameIdle(timeout: cluster.definition.idleTimeout)
    }

    /// The connection closed or failed: forget it.
    func remove(_ connection: UpstreamHTTP1Connection) {
        if let i = idle.firstIndex(where: { $0 === connection }) { idle.remove(at: i) }
        if connection.isAttachedToPool { activeCount -= 1 }
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
