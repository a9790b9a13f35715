import FerryConfig
import FerryProxy
import FerryTelemetry
import NIOCore

extension AdminAPI {
    func clusters(_ r: AdminRequest) async -> AdminResponse {
        let generation = proxy.generation
        let statuses = await proxy.hostStatuses()
        let json = r.query["format"] == "json"
        var text = ""
        var clusterJSON: [String] = []
        for name in generation.clusterNames {
            let hosts = proxy.clusterManager.hosts(of: name)?.priorities ?? []
            text += "\(name)::observability_name::\(name)\n"
            text += "\(name)::added_via_api::false\n"
            var hostJSON: [String] = []
            for host in hosts.flatMap(\.hosts) {
                let s = statuses[name]?[host.addressString] ?? ProxyServer.HostStatus()
                let prefix = "\(name)::\(host.addressString)::"
                let rows: [(String, Int)] = [
                    ("cx_active", s.cxActive), ("cx_connect_fail", s.counters.cxConnectFail), ("cx_total", s.counters.cxTotal),
                    ("rq_active", s.rqActive), ("rq_error", s.counters.rqError), ("rq_success", s.counters.rqSuccess),
                    ("rq_timeout", s.counters.rqTimeout), ("rq_total", s.counters.rqTotal),
                ]
                for (k, v) in rows { text += "\(prefix)\(k)::\(v)\n" }
                text += "\(prefix)hostname::\(host.hostname)\n"
                let flags = host.health.flags
                text += "\(prefix)health_flags::\(flags.envoyDescription)\n"
                text += "\(prefix)weight::\(host.weight)\n"
                text += "\(prefix)region::\(host.locality.region)\n\(prefix)zone::\(host.locality.zone)\n\(prefix)sub_zone::\(host.locality.subZone)\n"
                text += "\(prefix)canary::false\n\(prefix)priority::\(host.priority)\n"
                // The outlier detector's rates of the last interval, -1 without enough volume (as Envoy).
                let rates = proxy.clusterManager.outlierDetector(of: name)?.successRates(of: host)
                text += "\(prefix)success_rate::\(Self.rateText(rates?.external))\n"
                text += "\(prefix)local_origin_success_rate::\(Self.rateText(rates?.localOrigin))\n"
                let statsJSON = rows.map { "{\"name\":\"\($0.0)\",\"value\":\"\($0.1)\"\($0.0.hasSuffix("active") ? ",\"type\":\"GAUGE\"" : "")}" }
                    .joined(separator: ",")
                hostJSON.append("""
                {"address":{"socket_address":{"address":\(JSON.quote(host.address.ipAddress ?? "")),"port_value":\(host.address.port ?? 0)}},\
                "stats":[\(statsJSON)],"health_status":\(Self.healthStatusJSON(flags)),"weight":\(host.weight),\
                \(Self.rateJSON("success_rate", rates?.external))\(Self.rateJSON("local_origin_success_rate", rates?.localOrigin))\
                "hostname":\(JSON.quote(host.hostname)),"priority":\(host.priority),\
                "locality":{"region":\(JSON.quote(host.locality.region)),"zone":\(JSON.quote(host.locality.zone)),"sub_zone":\(JSON.quote(host.locality.subZone))}}
                """)
            }
            var entry = "{\"name\":\(JSON.quote(name)),\"observability_name\":\(JSON.quote(name)),\"host_statuses\":[\(hostJSON.joined(separator: ","))]"
            if let error = proxy.clusterManager.lastError(of: name) { entry += ",\"dns_error\":\(JSON.quote(error))" }
            clusterJSON.append(entry + "}")
        }
        if json { return .json("{\"cluster_statuses\":[\(clusterJSON.joined(separator: ","))]}") }
        return AdminResponse(text)
    }

    static func rateText(_ rate: Double?) -> String {
        guard let rate else { return "-1" }
        return rate == rate.rounded() ? String(Int(rate)) : String(rate)
    }

    /// Envoy's JSON has the rate only when the detector has one.
    static func rateJSON(_ key: String, _ rate: Double?) -> String {
        rate.map { "\"\(key)\":{\"value\":\(rateText($0))}," } ?? ""
    }

    func listeners(_ r: AdminRequest) -> AdminResponse {
        let bound = proxy.listenerAddresses
        if r.query["format"] == "json" {
            let configs = proxy.generation.bootstrap.listeners
            let items = bound.map { l in
                let chains = configs.first { $0.name == l.name }.map { ",\"filter_chains\":\(Self.filterChainsJSON($0))" } ?? ""
                return "{\"name\":\(JSON.quote(l.name)),\"local_address\":{\"socket_address\":{\"address\":\(JSON.quote(l.address.ipAddress ?? "")),\"port_value\":\(l.address.port ?? 0)}}\(chains)}"
            }
            return .json("{\"listener_statuses\":[\(items.joined(separator: ","))]}")
        }
        return AdminResponse(bound.map { "\($0.name)::\(formatAddress($0.address))\n" }.joined())
    }

    func formatAddress(_ a: NIOCore.SocketAddress) -> String {
        let ip = a.ipAddress ?? "?"
        return a.protocol == .inet6 ? "[\(ip)]:\(a.port ?? 0)" : "\(ip):\(a.port ?? 0)"
    }
}

extension AdminAPI {
    /// Envoy's `HostHealthStatus` in `/clusters?format=json`: the EDS status and each failure.
    static func healthStatusJSON(_ flags: HostHealth.Flags) -> String {
        var fields = ["\"eds_health_status\":\"\(flags.contains(.failedEDSHealth) ? "UNHEALTHY" : "HEALTHY")\""]
        if flags.contains(.failedActiveHealthCheck) { fields.append("\"failed_active_health_check\":true") }
        if flags.contains(.failedOutlierCheck) { fields.append("\"failed_outlier_check\":true") }
        if flags.contains(.pendingActiveHealthCheck) { fields.append("\"pending_active_hc\":true") }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
