/// Checks that need the whole configuration: names are unique, references resolve, addresses
/// do not collide.
enum BootstrapValidator {
    static func validate(_ bootstrap: Bootstrap, diagnostics: DiagnosticCollector) {
        var clusterNames: [String: Cluster] = [:]
        for cluster in bootstrap.clusters {
            if let first = clusterNames[cluster.name] {
                diagnostics.error(cluster.location, "\(cluster.path).name", "duplicate cluster name \"\(cluster.name)\" (first defined at line \(first.location.line))",
                                  fix: "give every cluster a unique name")
            } else {
                clusterNames[cluster.name] = cluster
            }
        }
        var listenerNames: [String: Listener] = [:]
        var addresses: [SocketAddress: Listener] = [:]
        for listener in bootstrap.listeners {
            if let first = listenerNames[listener.name] {
                diagnostics.error(listener.location, "\(listener.path).name",
                                  "duplicate listener name \"\(listener.name)\" (first defined at line \(first.location.line))",
                                  fix: "give every listener a unique name")
            } else {
                listenerNames[listener.name] = listener
            }
            if listener.address.port != 0 {
                if let first = addresses[listener.address] {
                    diagnostics.error(listener.address.location, "\(listener.path).address",
                                      "listener \"\(listener.name)\" uses address \(listener.address), already used by listener \"\(first.name)\" at line \(first.location.line)",
                                      fix: "give each listener its own port")
                } else {
                    addresses[listener.address] = listener
                }
            }
            for chain in listener.allFilterChains {
                switch chain.filter {
                case .httpConnectionManager(let hcm): validateRoutes(hcm, clusters: clusterNames, diagnostics: diagnostics)
                case .tcpProxy(let proxy): validateTcpProxy(proxy, clusters: clusterNames, diagnostics: diagnostics)
                }
            }
        }
        if let admin = bootstrap.admin, admin.address.port != 0, let clash = addresses[admin.address] {
            diagnostics.error(admin.address.location, "admin.address", "admin address \(admin.address) is also used by listener \"\(clash.name)\"",
                              fix: "move the admin API to its own port, e.g. 127.0.0.1:9901")
        }
    }

    private static func validateRoutes(_ hcm: HttpConnectionManager, clusters: [String: Cluster], diagnostics: DiagnosticCollector) {
        var domains: [String: VirtualHost] = [:]
        let filterNames = Set(hcm.httpFilters.map(\.name))
        func checkOverrides(_ overrides: [String: FilterOverride]) {
            for (name, override) in overrides.sorted(by: { $0.key < $1.key }) where !filterNames.contains(name) && !override.isOptional {
                let suggestion = Suggestion.closest(to: name, in: filterNames)
                diagnostics.warning(override.location, override.path,
                                    "typed_per_filter_config names \"\(name)\", which is not in this listener's http_filters, so it has no effect"
                                        + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""))
            }
        }
        checkOverrides(hcm.routeConfig.typedPerFilterConfig)
        for host in hcm.routeConfig.virtualHosts {
            checkOverrides(host.typedPerFilterConfig)
            for route in host.routes { checkOverrides(route.typedPerFilterConfig) }
            for domain in host.domains {
                if let first = domains[domain] {
                    diagnostics.error(host.location, "\(host.path).domains",
                                      "domain \"\(domain)\" is used by virtual hosts \"\(first.name)\" and \"\(host.name)\" (Envoy requires unique domains)",
                                      fix: "remove \"\(domain)\" from one of them")
                } else {
                    domains[domain] = host
                }
            }
            for route in host.routes {
                guard case .route(let action) = route.action else { continue }
                switch action.cluster {
                case .cluster(let name):
                    if clusters[name] == nil { unknownCluster(name, at: action.clusterLocation, path: "\(action.clusterPath).cluster", clusters, diagnostics) }
                case .weighted(let weights):
                    for w in weights where clusters[w.name] == nil { unknownCluster(w.name, at: w.location, path: w.path, clusters, diagnostics) }
                case .header:
                    break
                }
            }
        }
    }

    /// As Envoy, a tcp_proxy may name a cluster that does not exist: its connections are closed
    /// and counted in `downstream_cx_no_route`. Ferry loads the config but warns.
    private static func validateTcpProxy(_ proxy: TcpProxy, clusters: [String: Cluster], diagnostics: DiagnosticCollector) {
        for name in proxy.target.clusterNames where clusters[name] == nil {
            let suggestion = Suggestion.closest(to: name, in: clusters.keys)
            diagnostics.warning(proxy.targetLocation, proxy.targetPath,
                                "tcp_proxy names cluster \"\(name)\", which is not defined; its connections will be closed (downstream_cx_no_route), as in Envoy"
                                    + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""),
                                fix: suggestion.map { "change it to \($0)" } ?? "define it under static_resources.clusters")
        }
    }

    private static func unknownCluster(_ name: String, at location: SourceLocation, path: String, _ clusters: [String: Cluster],
                                       _ diagnostics: DiagnosticCollector) {
        let suggestion = Suggestion.closest(to: name, in: clusters.keys)
        diagnostics.error(location, path, "route names cluster \"\(name)\", which is not defined" + (suggestion.map { " (did you mean \"\($0)\"?)" } ?? ""),
                          fix: suggestion.map { "change it to \($0)" } ?? "define it under static_resources.clusters")
    }
}
