import FerryConfig
import FerryTelemetry
import FerryPolicy
import NIOCore

/// Compiles a validated configuration into a `ConfigGeneration`. Runs off the worker loops;
/// the few checks that need run-time facts (a STATIC cluster given a host name, an access
/// log file that cannot be opened) report located config errors like the validator does.
public enum GenerationCompiler {
    public static func compile(_ loaded: LoadedConfig, id: Int, store: StatsStore) -> Result<ConfigGeneration, ConfigErrors> {
        compile(loaded, id: id, store: store, previous: nil, governance: GovernanceRegistry())
    }

    /// `previous` lends its per-listener connection counters to listeners that keep their name;
    /// `governance` keeps the live state of rules whose config did not change.
    static func compile(_ loaded: LoadedConfig, id: Int, store: StatsStore, previous: ConfigGeneration?,
                        governance: GovernanceRegistry) -> Result<ConfigGeneration, ConfigErrors>
    {
        let counters = previous?.listenerConnections ?? [:]
        let diagnostics = DiagnosticCollector()
        let bootstrap = loaded.bootstrap
        var clusters: [ClusterDefinition] = []
        for (i, cluster) in bootstrap.clusters.enumerated() {
            checkStaticAddresses(cluster, diagnostics)
            clusters.append(ClusterDefinition(cluster, index: i, store: store,
                                              tls: CompiledUpstreamTLS.compile(cluster, store: store, diagnostics: diagnostics)))
        }
        var index: [String: Int] = [:]
        for c in clusters { index[c.name] = c.index }
        var listeners: [CompiledListener] = []
        let governanceKeys = FilterFactoryContext.KeySet()
        let tlsInspectorStats = TLSInspectorStats(store: store)
        for listener in bootstrap.listeners {
            let chains = listener.allFilterChains.enumerated().map { i, chain in
                let key = !chain.name.isEmpty ? chain.name : (i == listener.filterChains.count ? "default" : "#\(i)")
                // Governance rules are keyed by listener; a second connection manager gets its own.
                let ruleScope = i == 0 ? listener.name : "\(listener.name)/\(key)"
                return CompiledFilterChain(key: key, config: chain, terminal: compileTerminal(
                    chain.filter, listener: listener, ruleScope: ruleScope, bootstrap: bootstrap, clusters: clusters, index: index, store: store,
                    governance: governance, governanceKeys: governanceKeys, diagnostics: diagnostics),
                    tls: CompiledDownstreamTLS.compile(chain, listener: listener, store: store, diagnostics: diagnostics))
            }
            var limit: Int?
            if let value = bootstrap.runtime.value("envoy.resource_limits.listener.\(listener.name).connection_limit") {
                if let n = Int(value), n >= 0 { limit = n } else {
                    diagnostics.error(.unknown, "layered_runtime", "runtime key envoy.resource_limits.listener.\(listener.name).connection_limit is \"\(value)\", not a number",
                                      fix: "set it to a whole number of connections")
                }
            }
            listeners.append(CompiledListener(config: listener, chains: chains, stats: ListenerStats(statName: listener.statName, store: store),
                                              tlsInspectorStats: tlsInspectorStats, connectionLimit: limit,
                                              connections: counters[listener.name] ?? ListenerConnections()))
        }
        if diagnostics.hasErrors { return .failure(ConfigErrors(diagnostics: diagnostics.diagnostics)) }
        return .success(ConfigGeneration(id: id, loaded: loaded, listeners: listeners, clusters: clusters,
                                         governanceKeys: governanceKeys.keys))
    }

    /// A chain's terminal filter: the connection manager with its routes, filters and logs, or the TCP proxy.
    private static func compileTerminal(_ filter: FilterChain.NetworkFilter, listener: Listener, ruleScope: String, bootstrap: Bootstrap,
                                        clusters: [ClusterDefinition], index: [String: Int], store: StatsStore,
                                        governance: GovernanceRegistry, governanceKeys: FilterFactoryContext.KeySet,
                                        diagnostics: DiagnosticCollector) -> CompiledFilterChain.Terminal {
        switch filter {
        case .tcpProxy(let proxy):
            let logs = compileAccessLogs(proxy.accessLogs, at: proxy.location, path: "\(proxy.path).access_log", diagnostics)
            return .tcpProxy(CompiledTcpProxy(config: proxy, clusterIndex: index, accessLogs: logs, store: store))
        case .httpConnectionManager(let hcmConfig):
            let context = FilterFactoryContext(node: bootstrap.node, store: store, statPrefix: hcmConfig.statPrefix,
                                               listenerName: ruleScope, clusterIndex: index, governance: governance,
                                               diagnostics: diagnostics, governanceKeys: governanceKeys)
            let factories = StreamFilterFactories.make(hcmConfig.httpFilters, context: context)
            let table = compileRoutes(hcmConfig.routeConfig, clusters: clusters, index: index,
                                      bufferLimit: Int(listener.perConnectionBufferLimitBytes), filters: (factories, context))
            let logs = compileAccessLogs(hcmConfig.accessLogs, at: hcmConfig.location, path: "\(hcmConfig.path).access_log", diagnostics)
            let stats = HCMStats(prefix: hcmConfig.statPrefix, listenerStatName: listener.statName,
                                 http2: hcmConfig.codecType != .http1, store: store)
            return .httpConnectionManager(CompiledHCM(config: hcmConfig, routeTable: table, stats: stats, accessLogs: logs,
                                                      filterFactories: factories))
        }
    }

    static func checkStaticAddresses(_ cluster: Cluster, _ diagnostics: DiagnosticCollector) {
        guard cluster.type == .staticType else { return }
        for group in cluster.loadAssignment.localities {
            for endpoint in group.endpoints where (try? NIOCore.SocketAddress(ipAddress: endpoint.address.address, port: 1)) == nil {
                diagnostics.error(endpoint.address.location, "\(cluster.path).load_assignment",
                                  "STATIC cluster \"\(cluster.name)\" has the host name \"\(endpoint.address.address)\"; STATIC endpoints must be IP addresses (as in Envoy)",
                                  fix: "use `type: STRICT_DNS` to resolve host names, or write the IP address")
            }
        }
    }

    static func compileAccessLogs(_ logs: [AccessLog], at location: SourceLocation, path: String,
                                  _ diagnostics: DiagnosticCollector) -> [CompiledAccessLog] {
        logs.compactMap { log in
            do {
                return CompiledAccessLog(formatter: AccessLogFormatter(log.format), sink: try AccessLogSinks.shared.sink(for: log.sink),
                                         filter: log.filter)
            } catch {
                diagnostics.error(location, path, "cannot open access log: \(error)",
                                  fix: "create the directory and make it writable by the user running Ferry")
                return nil
            }
        }
    }

    static func compileRoutes(_ config: RouteConfiguration, clusters: [ClusterDefinition], index: [String: Int],
                              bufferLimit: Int = 1_048_576,
                              filters: ([StreamFilterFactory], FilterFactoryContext)? = nil) -> RouteTable {
        // Per-filter settings merge route configuration → virtual host → route, most specific last.
        func settings(_ overrides: [String: FilterOverride], over base: [RouteFilterSetting], scope: String) -> [RouteFilterSetting] {
            guard let (factories, context) = filters, !factories.isEmpty else { return [] }
            return StreamFilterFactories.settings(overrides, over: base, scope: scope, factories: factories, context: context)
        }
        let top = settings(config.typedPerFilterConfig, over: [], scope: "route_config")
        let hosts = config.virtualHosts.map { host in
            let hostSettings = settings(host.typedPerFilterConfig, over: top, scope: "vhost:\(host.name)")
            return CompiledVirtualHost(host, routes: host.routes.enumerated().map { i, route in
                let key = "\(host.name)/" + (route.name.isEmpty ? "\(i)" : route.name)
                return compileRoute(route, clusters: clusters, index: index, host: host, bufferLimit: bufferLimit,
                                    filterSettings: settings(route.typedPerFilterConfig, over: hostSettings, scope: "route:" + key), key: key)
            }, filterSettings: hostSettings)
        }
        return RouteTable(virtualHosts: hosts, ignorePortInHostMatching: config.ignorePortInHostMatching)
    }

    static func compileRoute(_ route: Route, clusters: [ClusterDefinition], index: [String: Int], host: VirtualHost,
                             bufferLimit: Int, filterSettings: [RouteFilterSetting], key: String) -> CompiledRoute {
        func handle(_ name: String) -> ClusterHandle { ClusterHandle(name: name, index: index[name] ?? -1) }
        let action: CompiledRoute.Action
        switch route.action {
        case .route(let a):
            let target: CompiledRouteAction.Target
            switch a.cluster {
            case .cluster(let name): target = .cluster(handle(name))
            case .header(let header): target = .header(header)
            case .weighted(let weights):
                let pick = FerryPolicy.WeightedPick(weights: weights.map { UInt64($0.weight) })
                target = .weighted(pick, weights.map {
                    .init(cluster: handle($0.name), requestHeaders: $0.requestHeaders, responseHeaders: $0.responseHeaders,
                          hostRewriteLiteral: $0.hostRewriteLiteral)
                })
            }
            let limit = route.retryBufferLimit ?? host.retryBufferLimit
            action = .route(CompiledRouteAction(a, target: target, hostRetryPolicy: host.retryPolicy,
                                                retryBufferLimit: limit.map { Int(min($0, UInt64(Int.max))) } ?? bufferLimit))
        case .redirect(let r):
            action = .redirect(r)
        case .directResponse(let d):
            action = .directResponse(status: d.status, body: d.body.map { ByteBuffer(bytes: $0.bytes) })
        }
        return CompiledRoute(route, action: action, filterSettings: filterSettings, key: key)
    }
}
