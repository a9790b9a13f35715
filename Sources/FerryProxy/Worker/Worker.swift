import FerryConfig
import FerryPolicy
import FerryTelemetry
import Logging
import NIOCore

/// Everything one event loop owns: its stats shard, the configuration generation new streams
/// use, per-cluster balancers and connection pools, a random generator and cached clocks.
/// Only code running on `loop` touches a worker, so none of it needs locks.
final class Worker {
    let index: Int
    /// How many workers share the listeners (for splitting per-listener limits).
    let workerCount: Int
    let loop: EventLoop
    let store: StatsStore
    let stats = StatsShard()
    let server: ServerState
    let logger: Logger
    let clock = WallClock()
    var random = FastRandom()
    let timers: StreamTimers
    /// The time at the start of the current read event; request timestamps use it instead of
    /// reading the clock at every step (they are microseconds apart within one event).
    private(set) var now: NIODeadline

    @inline(__always)
    func tick() { now = loop.now }
    private(set) var generation: ConfigGeneration
    /// Per-loop cluster state, by the current generation's cluster index.
    private(set) var clusters: [WorkerCluster] = []
    private var clustersByName: [String: WorkerCluster] = [:]
    /// Open downstream connections, for draining.
    var connections: [ObjectIdentifier: any DownstreamConnection] = [:]
    /// Effective runtime values: the generation's static layers, the disk layers' values and
    /// the admin layer's overrides, in layer order.
    private(set) var runtime: [String: String]
    private var runtimeOverrides: [String: String] = [:]
    /// Redis clients of the governance filters' GLOBAL scope, one per server, opened on first use.
    private var redisClients: [String: RedisClient] = [:]
    /// Disk layer values by layer name (`RuntimeDiskLayers`).
    private var runtimeDisk: [String: [String: String]] = [:]
    /// Counters registered on first use (names that depend on the request).
    private var dynamicCounters: [String: CounterID] = [:]
    private var dynamicHistograms: [String: HistogramID] = [:]
    /// Connections to flush at the end of this event-loop iteration (Worker+DeferredFlush).
    var pendingFlushes: [DeferredFlushing] = []
    var spareFlushList: [DeferredFlushing] = []
    var flushScheduled = false

    init(index: Int, workerCount: Int, loop: EventLoop, generation: ConfigGeneration, store: StatsStore, server: ServerState,
         logger: Logger) {
        self.index = index
        self.workerCount = workerCount
        self.loop = loop
        self.generation = generation
        runtime = generation.runtime
        self.store = store
        self.server = server
        self.logger = logger
        timers = StreamTimers(loop: loop)
        now = loop.now
        timers.onTick = { [unowned self] in self.tick() }
    }

    /// Starts the once-a-second clock refresh. Call on `loop`.
    func start() {
        loop.preconditionInEventLoop()
        clock.start(on: loop)
    }

    /// This loop's client for a Redis server (started the first time it is asked for).
    func redisClient(_ configuration: RedisClient.Configuration) -> RedisClient {
        let key = "\(configuration.host):\(configuration.port)/\(configuration.database ?? 0)/\(configuration.username ?? "")/\(configuration.password ?? "")"
        if let client = redisClients[key] { return client }
        let client = RedisClient(configuration: configuration, eventLoop: loop)
        client.start()
        redisClients[key] = client
        return client
    }

    func stop() {
        clock.stop()
        for client in redisClients.values { client.close() }
        redisClients = [:]
        for cluster in clusters { cluster.drainPools() }
    }

    /// Switches new streams to `next`, keeping per-cluster state for clusters that did not change.
    func install(_ next: ConfigGeneration, hosts: [String: HostSet], resources: [String: ClusterResources] = [:],
                 outliers: [String: ClusterOutlierDetector] = [:], runtimeDisk: [String: [String: String]] = [:]) {
        loop.preconditionInEventLoop()
        stats.grow(to: store)
        var byName: [String: WorkerCluster] = [:]
        var list: [WorkerCluster] = []
        for definition in next.clusters {
            let hostSet = hosts[definition.name] ?? .empty
            if let existing = clustersByName[definition.name], existing.definition.fingerprint == definition.fingerprint {
                existing.definition = definition
                byName[definition.name] = existing
                list.append(existing)
            } else {
                let cluster = WorkerCluster(definition: definition, hosts: hostSet,
                                            resources: resources[definition.name] ?? ClusterResources(),
                                            outlier: outliers[definition.name], worker: self)
                byName[definition.name] = cluster
                list.append(cluster)
            }
        }
        // Removed clusters and clusters replaced by a changed definition both retire their pools.
        for (name, old) in clustersByName where byName[name] !== old { old.drainPools() }
        clustersByName = byName
        clusters = list
        generation = next
        self.runtimeDisk = runtimeDisk
        updateRuntime()
    }

    /// The admin layer changed (`/runtime_modify`).
    func setRuntimeOverrides(_ overrides: [String: String]) {
        loop.preconditionInEventLoop()
        runtimeOverrides = overrides
        updateRuntime()
    }

    /// The disk layers of generation `id` changed; ignored when this worker already runs a
    /// newer generation (its install brought that one's disk values).
    func setRuntimeDisk(_ values: [String: [String: String]], generation id: Int) {
        loop.preconditionInEventLoop()
        guard generation.id == id else { return }
        runtimeDisk = values
        updateRuntime()
    }

    private func updateRuntime() {
        runtime = runtimeOverrides.isEmpty && runtimeDisk.isEmpty
            ? generation.runtime : generation.bootstrap.runtime.values(admin: runtimeOverrides, disk: runtimeDisk)
    }

    /// Envoy's `getInteger`: the runtime key's value as a whole number, else `defaultValue`.
    func runtimeInteger(_ key: String, default defaultValue: UInt64) -> UInt64 {
        guard let text = runtime[key] else { return defaultValue }
        return RuntimeValue.integer(text) ?? defaultValue
    }

    /// The counter `key`, registered on first use (stats whose names depend on the request).
    func counter(_ key: StatKey) -> CounterID { dynamicStat(key, in: &dynamicCounters, register: store.counter) }

    /// The histogram `key`, registered on first use.
    func histogram(_ key: StatKey) -> HistogramID { dynamicStat(key, in: &dynamicHistograms, register: store.histogram) }

    private func dynamicStat<ID>(_ key: StatKey, in cache: inout [String: ID], register: (StatKey) -> ID) -> ID {
        if let id = cache[key.name] { return id }
        let id = register(key)
        cache[key.name] = id
        stats.grow(to: store)
        return id
    }

    /// Envoy's `featureEnabled` for a runtime fractional percent: the runtime key's value if it
    /// is set and valid, else the default, as a chance per call.
    ///
    /// Inlined, so a caller passing a config's field reads only what it needs: without a
    /// runtime key (or with no runtime layer) the key string is neither copied nor hashed.
    @inline(__always)
    func featureEnabled(_ fraction: RuntimeFractionalPercent) -> Bool {
        if fraction.runtimeKey == nil || runtime.isEmpty { return chance(fraction.defaultValue.perMillion) }
        return featureEnabledFromRuntime(fraction)
    }

    @inline(never)
    private func featureEnabledFromRuntime(_ fraction: RuntimeFractionalPercent) -> Bool {
        var percent = fraction.defaultValue
        if let key = fraction.runtimeKey, let text = runtime[key], let value = FractionalPercent.parse(runtime: text) {
            percent = value
        }
        return chance(percent.perMillion)
    }

    /// True with a chance of `share` in a million.
    @inline(__always)
    private func chance(_ share: UInt64) -> Bool {
        if share >= 1_000_000 { return true }
        if share == 0 { return false }
        return random.next() % 1_000_000 < share
    }

    func updateHosts(cluster name: String, _ hosts: HostSet) {
        loop.preconditionInEventLoop()
        clustersByName[name]?.update(hosts: hosts)
    }

    func cluster(named name: String) -> WorkerCluster? { clustersByName[name] }

    /// Counter id for `cluster.<name>.upstream_rq_<code>`, registered on first use.
    func statusCounter(_ cluster: WorkerCluster, _ code: Int, retried: Bool = false) -> CounterID {
        let code = min(max(code, 100), 599)
        if let id = retried ? cluster.retryCodeCounters[code] : cluster.codeCounters[code] { return id }
        let id = store.counter(.cluster(cluster.definition.name, (retried ? "retry." : "") + "upstream_rq_\(code)"))
        if retried { cluster.retryCodeCounters[code] = id } else { cluster.codeCounters[code] = id }
        stats.grow(to: store)
        return id
    }

    /// Envoy's `chargeUpstreamCode`: `upstream_rq_<code>`, `upstream_rq_<class>xx` and
    /// `upstream_rq_completed` for the response the router settles on (an upstream's, or the
    /// router's own 5xx when the upstream failed); the `retry.` variants for a response that
    /// was retried instead.
    func chargeUpstreamCode(_ cluster: WorkerCluster, _ code: Int, retried: Bool = false) {
        let stats = cluster.definition.stats
        let shard = self.stats
        shard.inc(statusCounter(cluster, code, retried: retried))
        let cls = min(max(code / 100, 1), 5) - 1
        shard.inc(retried ? stats.retryUpstreamRqClass[cls] : stats.upstreamRqClass[cls])
        shard.inc(retried ? stats.retryUpstreamRqCompleted : stats.upstreamRqCompleted)
    }
}
