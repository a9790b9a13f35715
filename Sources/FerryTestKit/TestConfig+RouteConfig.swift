/// Bootstrap builders for tests that need more than one catch-all virtual host: the whole
/// `route_config` body, extra cluster entries, and endpoint lists with weights and hostnames.
extension TestConfig {
    /// A bootstrap whose listener `main` (port 0) carries `routeConfig` (YAML at route_config
    /// field level: `virtual_hosts`, header mutations, ...). `clusters` become STATIC loopback
    /// clusters with `clusterExtra` fields; `extraClusters` holds more cluster list items;
    /// `httpFilters` are `http_filters` list items that go before the router.
    public static func bootstrap(
        routeConfig: String, clusters: [(String, [Int])] = [], hcmExtra: String = "",
        clusterExtra: String = "", extraClusters: String = "", admin: Bool = true, httpFilters: String = "",
        top: String = ""
    ) -> String {
        var yaml = top.isEmpty ? "" : top + "\n"
        if admin { yaml += "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 0}}\n" }
        yaml += """
            static_resources:
              listeners:
              - name: main
                address: {socket_address: {address: 127.0.0.1, port_value: 0}}
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": \(hcmType)
                      stat_prefix: ingress_http
            \(indent(hcmExtra, 10))
                      route_config:
                        name: local_route
            \(indent(routeConfig, 12))
                      http_filters:
            \(indent(httpFilters, 10))
                      - name: envoy.filters.http.router
                        typed_config: {"@type": \(routerType)}
              clusters:\(clusters.isEmpty && extraClusters.isEmpty ? " []" : "")

            """
        for (name, ports) in clusters {
            yaml += indent(cluster(name, endpoints: ports.map { Endpoint(port: $0) }, extra: clusterExtra), 2) + "\n"
        }
        if !extraClusters.isEmpty { yaml += indent(extraClusters, 2) + "\n" }
        return yaml
    }

    /// One virtual host as a `virtual_hosts` list item; `routes` are route list items and
    /// `extra` more virtual host fields.
    public static func virtualHost(_ name: String, domains: [String], routes: String, extra: String = "") -> String {
        let quoted = domains.map { "\"\($0)\"" }.joined(separator: ", ")
        var yaml = "- name: \(name)\n  domains: [\(quoted)]\n"
        if !extra.isEmpty { yaml += indent(extra, 2) + "\n" }
        return yaml + "  routes:\n" + indent(routes, 2) + "\n"
    }

    /// An endpoint of `cluster(_:endpoints:)`.
    public struct Endpoint: Sendable {
        public var address: String
        public var port: Int
        public var weight: Int?
        public var hostname: String?

        public init(address: String = "127.0.0.1", port: Int, weight: Int? = nil, hostname: String? = nil) {
            self.address = address
            self.port = port
            self.weight = weight
            self.hostname = hostname
        }
    }

    /// A cluster list item (`type` STATIC unless `extra` or `type` say otherwise).
    public static func cluster(_ name: String, type: String = "STATIC", endpoints: [Endpoint], extra: String = "")
        -> String
    {
        var yaml = "- name: \(name)\n  type: \(type)\n  connect_timeout: 1s\n"
        if !extra.isEmpty { yaml += indent(extra, 2) + "\n" }
        yaml += "  load_assignment:\n    cluster_name: \(name)\n    endpoints:\n    - lb_endpoints:\n"
        for e in endpoints {
            var endpoint = "address: {socket_address: {address: \(e.address), port_value: \(e.port)}}"
            if let hostname = e.hostname { endpoint += ", hostname: \(hostname)" }
            var item = "      - endpoint: {\(endpoint)}"
            if let weight = e.weight { item += "\n        load_balancing_weight: \(weight)" }
            yaml += item + "\n"
        }
        return yaml
    }
}
