import FerryConfig
import FerryTelemetry
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A running data plane: worker loops, listeners, clusters and the current configuration
/// generation. `start` binds everything; the admin API and the CLI drive it from outside the
/// loops through its `Sendable` surface.
public final class ProxyServer: Sendable {
    public let store: StatsStore
    public let state: ServerState
    public let options: ProxyOptions
    public let group: MultiThreadedEventLoopGroup
    /// One loop for control work: DNS refresh timers, cluster updates.
    let mainGroup: MultiThreadedEventLoopGroup
    let threadPool: NIOThreadPool
    let workers: [NIOLoopBound<Worker>]
    let workersByLoop: [ObjectIdentifier: NIOLoopBound<Worker>]
    public let clusterManager: ClusterManager
    let current: NIOLockedValueBox<ConfigGeneration>
    let bound: NIOLockedValueBox<[BoundListener]>
    let serverStats: ServerStats
    let reloadGate = ReloadGate()
    let lastReload = NIOLockedValueBox<(generation: Int, error: String?)>((1, nil))
    /// Live state of the governance filters' rules, kept across reloads (admin `/governance`).
    public let governance: GovernanceRegistry
    /// The runtime admin layer's values (`/runtime_modify`).
    let runtimeOverrides = NIOLockedValueBox<[String: String]>([:])
    /// The runtime disk layers' values and their poll (ProxyServer+Runtime).
    let runtimeDisk = RuntimeDiskLayers()
    var logger: Logger { options.logger }

    private init(generation: ConfigGeneration, store: StatsStore, options: ProxyOptions, group: MultiThreadedEventLoopGroup,
                 mainGroup: MultiThreadedEventLoopGroup, threadPool: NIOThreadPool, workers: [NIOLoopBound<Worker>],
                 clusterManager: ClusterManager, state: ServerState, governance: GovernanceRegistry) {
        self.governance = governance
        self.store = store
        self.options = options
        self.group = group
        self.mainGroup = mainGroup
        self.threadPool = threadPool
        self.workers = workers
        var byLoop: [ObjectIdentifier: NIOLoopBound<Worker>] = [:]
        for w in workers { byLoop[ObjectIdentifier(w.eventLoop)] = w }
        workersByLoop = byLoop
        self.clusterManager = clusterManager
        self.state = state
        current = NIOLockedValueBox(generation)
        bound = NIOLockedValueBox([])
        serverStats = ServerStats(store: store)
    }

    /// Compiles `config`, starts `options.concurrency` worker loops, resolves clusters and binds
    /// every listener. Throws `ConfigErrors` for configurations that cannot run.
    public static func start(config: LoadedConfig, options: ProxyOptions) async throws -> ProxyServer {
        let store = StatsStore()
        raiseOpenFileLimit(logger: options.logger)
        let governance = GovernanceRegistry()
        let generation = try GenerationCompiler.compile(config, id: 1, store: store, previous: nil, governance: governance).get()
        let concurrency = max(1, options.concurrency)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: concurrency)
        let mainGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let threadPool = NIOThreadPool(numberOfThreads: 2)
        threadPool.start()
        let state = ServerState(startUptimeNanos: NIODeadline.now().uptimeNanoseconds, startWallSeconds: Self.wallSeconds())
        var workers: [NIOLoopBound<Worker>] = []
        for (i, loop) in group.makeIterator().enumerated() {
            let logger = options.logger
            workers.append(try await loop.submit {
                let worker = Worker(index: i, workerCount: concurrency, loop: loop, generation: generation, store: store,
                                    server: state, logger: logger)
                worker.start()
                return NIOLoopBound(worker, eventLoop: loop)
            }.get())
        }
        let manager = ClusterManager(loop: mainGroup.next(), resolver: DNSResolver(threadPool: threadPool, overrides: options.hostOverrides),
                                     store: store, logger: options.logger)
        let server = ProxyServer(generation: generation, store: store, options: options, group: group, mainGroup: mainGroup,
                                 threadPool: threadPool, workers: workers, clusterManager: manager, state: state,
                                 governance: governance)
        manager.subscribe { [workers] name, hosts in
            for w in workers { w.eventLoop.execute { w.value.updateHosts(cluster: name, hosts) } }
        }
        try await manager.apply(generation.clusters).get()
        try await server.installOnWorkers(generation)
        for listener in generation.listeners {
            do {
                let b = try await ListenerBinder.bind(listener, workers: workers, group: group, workersByLoop: server.workersByLoop)
                server.bound.withLockedValue { $0.append(b) }
                options.logger.info("listener \(listener.name) bound to \(UpstreamHost.format(b.address))")
            } catch {
                await server.shutdown()
                throw ListenerBindError(listener: listener.name, address: listener.address.description, location: listener.config.location,
                                        reason: Self.describeBind(error))
            }
        }
        server.startRuntimePolling()
        server.startCertificatePolling()
        server.serverStats.setStatic(concurrency: concurrency)
        store.set(server.serverStats.configGeneration, 1)
        state.phase = .live
        return server
    }

    func installOnWorkers(_ generation: ConfigGeneration) async throws {
        var hosts: [String: HostSet] = [:]
        var resources: [String: ClusterResources] = [:]
        var outliers: [String: ClusterOutlierDetector] = [:]
        for c in generation.clusters {
            hosts[c.name] = clusterManager.hosts(of: c.name) ?? .empty
            resources[c.name] = clusterManager.resources(for: c)
            outliers[c.name] = clusterManager.outlierDetector(of: c.name)
        }
        let snapshot = hosts
        let shared = resources
        let detectors = outliers
        let disk = runtimeDisk.load(generation, logger: logger)
        for w in workers {
            try await w.eventLoop.submit {
                w.value.install(generation, hosts: snapshot, resources: shared, outliers: detectors, runtimeDisk: disk)
            }.get()
        }
    }

    public var generation: ConfigGeneration { current.withLockedValue { $0 } }

    /// `/runtime_modify`: sets (or, with an empty value, removes) admin-layer runtime values and
    /// hands the result to every worker. Fails when the bootstrap has no admin layer, as Envoy.
    public func modifyRuntime(_ changes: [String: String]) async -> Result<Void, RuntimeModifyError> {
        guard generation.bootstrap.runtime.hasAdminLayer else { return .failure(.noAdminLayer) }
        let overrides = runtimeOverrides.withLockedValue { values in
            for (key, value) in changes { values[key] = value.isEmpty ? nil : value }
            return values
        }
        for w in workers { try? await w.eventLoop.submit { w.value.setRuntimeOverrides(overrides) }.get() }
        return .success(())
    }

    /// The admin layer's values (for `/runtime`).
    public var adminRuntimeValues: [String: String] { runtimeOverrides.withLockedValue { $0 } }

    /// Names and bound addresses of the listeners (port 0 resolved to the real port).
    public var listenerAddresses: [(name: String, address: NIOCore.SocketAddress)] {
        bound.withLockedValue { $0.map { ($0.name, $0.address) } }
    }

    /// Merged stats from every worker loop.
    public func statsView() async -> StatsView {
        serverStats.update(state: state, connections: await connectionCount())
        clusterManager.publishCircuitBreakerGauges(generation.clusters)
        // Adaptive concurrency timers are deadlines; fire the due ones so idle gauges are current.
        for (_, state) in governance.snapshot() { (state as? AdaptiveConcurrencyRule)?.tick(now: .now()) }
        var snapshots: [StatsSnapshot] = []
        for w in workers {
            if let s = try? await w.eventLoop.submit({ w.value.stats.grow(to: w.value.store); return w.value.stats.snapshot() }).get() {
                snapshots.append(s)
            }
        }
        return store.view(merging: snapshots)
    }

    public func connectionCount() async -> Int {
        var total = 0
        for w in workers { total += (try? await w.eventLoop.submit { w.value.connections.count }.get()) ?? 0 }
        return total
    }

    /// Live per-host numbers for `/clusters`, summed over loops.
    public struct HostStatus: Sendable {
        public var rqActive = 0
        public var cxActive = 0
        public var counters = HostCounters()
        public init() {}
        init(rqActive: Int, cxActive: Int, counters: HostCounters) {
            self.rqActive = rqActive
            self.cxActive = cxActive
            self.counters = counters
        }
    }

    public func hostStatuses() async -> [String: [String: HostStatus]] {
        var result: [String: [String: HostStatus]] = [:]
        for w in workers {
            let part = (try? await w.eventLoop.submit { () -> [String: [String: HostStatus]] in
                var out: [String: [String: HostStatus]] = [:]
                for cluster in w.value.clusters {
                    for pool in cluster.allPools {
                        // A host may have an HTTP/1 and an HTTP/2 pool (use_downstream_protocol_config).
                        var status = out[cluster.definition.name]?[pool.host.addressString]
                            ?? HostStatus(rqActive: 0, cxActive: 0, counters: HostCounters())
                        status.rqActive += pool.activeRequests
                        status.cxActive += pool.openConnections
                        status.counters.add(pool.counters)
                        out[cluster.definition.name, default: [:]][pool.host.addressString] = status
                    }
                }
                return out
            }.get()) ?? [:]
            for (cluster, hosts) in part {
                for (host, v) in hosts {
                    var merged = result[cluster]?[host] ?? HostStatus()
                    merged.rqActive += v.rqActive
                    merged.cxActive += v.cxActive
                    merged.counters.add(v.counters)
                    result[cluster, default: [:]][host] = merged
                }
            }
        }
        return result
    }

    private let stopped = NIOLockedValueBox(false)

    /// Stops listeners, timers and loops. Safe to call more than once.
    public func shutdown() async {
        let first = stopped.withLockedValue { s -> Bool in
            defer { s = true }
            return !s
        }
        guard first else { return }
        state.phase = .draining
        let listeners = bound.withLockedValue { $0 }
        for l in listeners { try? await l.close().get() }
        clusterManager.shutdown()
        runtimeDisk.stop()
        for w in workers { try? await w.eventLoop.submit { w.value.stop() }.get() }
        AccessLogSinks.shared.flushAll()
        try? await group.shutdownGracefully()
        try? await mainGroup.shutdownGracefully()
        try? await threadPool.shutdownGracefully()
    }

    /// Every connection is a file descriptor; like nginx and Envoy, use the hard limit so a burst
    /// of (possibly slow) clients cannot exhaust the soft default of 1024.
    static func raiseOpenFileLimit(logger: Logger) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        let wanted = min(limit.rlim_max, 1 << 20)
        limit.rlim_cur = wanted
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) != 0 {
            logger.warning("could not raise the open-file limit to \(wanted)")
        }
    }

    static func wallSeconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}

public struct ListenerBindError: Error, CustomStringConvertible {
    public var listener: String
    public var address: String
    public var location: SourceLocation
    public var reason: String
    public var description: String {
        "\(location): error: listener \"\(listener)\" cannot listen on \(address): \(reason)\n    fix: stop whatever uses \(address), or pick another port_value (0 lets the kernel choose)"
    }
}

extension ProxyServer {
    static func describeBind(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(error)"
    }
}

/// `server.*` stats.
struct ServerStats: Sendable {
    let live, uptime, concurrency, totalConnections, state, version, configGeneration: GaugeID
    let configReloadFailed: CounterID

    init(store: StatsStore) {
        live = store.gauge(.plain("server.live"))
        uptime = store.gauge(.plain("server.uptime"))
        concurrency = store.gauge(.plain("server.concurrency"))
        totalConnections = store.gauge(.plain("server.total_connections"))
        state = store.gauge(.plain("server.state"))
        version = store.gauge(.plain("server.version"))
        configGeneration = store.gauge(.plain("server.config_generation"))
        configReloadFailed = store.counter(.plain("server.config_reload_failed"))
        self.store = store
    }

    let store: StatsStore

    func setStatic(concurrency n: Int) {
        store.set(concurrency, Int64(n))
        store.set(live, 1)
    }

    func update(state s: ServerState, connections: Int) {
        store.set(uptime, Int64((NIODeadline.now().uptimeNanoseconds - s.startUptimeNanos) / 1_000_000_000))
        let phase = s.reportedPhase
        store.set(live, phase == .live ? 1 : 0)
        store.set(state, Int64(phase == .live ? 0 : phase == .draining ? 1 : 2))
        store.set(totalConnections, Int64(connections))
    }
}

public enum RuntimeModifyError: Error, CustomStringConvertible {
    case noAdminLayer

    public var description: String {
        switch self {
        case .noAdminLayer: "No admin layer specified"
        }
    }
}
