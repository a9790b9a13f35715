/// A stat's identity: Envoy's flat dotted name (what `/stats` prints) together with the
/// Prometheus family and labels that Envoy's tag extractors would derive from it.
///
/// Ferry builds keys from their parts (cluster name, stat prefix, status code) instead of
/// running Envoy's extraction regexes over flat names, so names containing dots stay intact.
public struct StatKey: Sendable, Hashable {
    public var name: String
    public var family: String
    public var labels: [Label]

    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(name: String, family: String, labels: [Label] = []) {
        self.name = name
        self.family = family
        self.labels = labels
    }

    /// A stat with no tags: `server.live` → `envoy_server_live`.
    public static func plain(_ name: String) -> StatKey {
        StatKey(name: name, family: familyName(name))
    }

    /// `cluster.<name>.<stat>`; status-code stats get Envoy's response code tags.
    public static func cluster(_ cluster: String, _ stat: String) -> StatKey {
        tagged(scope: "cluster", scopeValue: cluster, label: "envoy_cluster_name", stat: stat)
    }

    /// `http.<stat_prefix>.<stat>`.
    public static func http(_ prefix: String, _ stat: String) -> StatKey {
        tagged(scope: "http", scopeValue: prefix, label: "envoy_http_conn_manager_prefix", stat: stat)
    }

    /// `tcp.<stat_prefix>.<stat>` (the tcp_proxy network filter).
    public static func tcp(_ prefix: String, _ stat: String) -> StatKey {
        tagged(scope: "tcp", scopeValue: prefix, label: "envoy_tcp_prefix", stat: stat)
    }

    /// `listener.<address>.<stat>`, where address is `127.0.0.1_10000` or the listener's stat_prefix.
    public static func listener(_ address: String, _ stat: String) -> StatKey {
        tagged(scope: "listener", scopeValue: address, label: "envoy_listener_address", stat: stat)
    }

    /// `listener.<address>.http.<prefix>.<stat>`.
    public static func listenerHTTP(_ address: String, _ prefix: String, _ stat: String) -> StatKey {
        var key = tagged(scope: "listener", scopeValue: address, label: "envoy_listener_address", stat: "http.\(prefix).\(stat)")
        // Envoy: envoy_listener_http_<stat>{..., envoy_http_conn_manager_prefix, envoy_listener_address}
        let base = tagged(scope: "http", scopeValue: prefix, label: "envoy_http_conn_manager_prefix", stat: stat)
        key.family = "envoy_listener_" + base.family.dropFirst("envoy_".count)
        key.labels = base.labels + [Label("envoy_listener_address", address)]
        return key
    }

    private static func tagged(scope: String, scopeValue: String, label: String, stat: String) -> StatKey {
        let name = "\(scope).\(scopeValue).\(stat)"
        var labels: [Label] = []
        var familyStat = stat
        if let (base, code) = splitResponseCode(stat) {
            familyStat = base
            labels.append(Label("envoy_response_code", code))
        } else if let (base, cls) = splitResponseClass(stat) {
            familyStat = base + "_xx"
            labels.append(Label("envoy_response_code_class", cls))
        }
        labels.append(Label(label, scopeValue))
        return StatKey(name: name, family: familyName("\(scope).\(familyStat)"), labels: labels)
    }

    /// `upstream_rq_404` → (`upstream_rq`, "404").
    static func splitResponseCode(_ stat: String) -> (String, String)? {
        guard stat.count > 7 else { return nil }
        let tail = stat.suffix(4)
        guard tail.first == "_", tail.dropFirst().allSatisfy(\.isNumber), stat.dropLast(4).hasSuffix("_rq") else { return nil }
        return (String(stat.dropLast(4)), String(tail.dropFirst()))
    }

    /// `downstream_rq_2xx` → (`downstream_rq`, "2").
    static func splitResponseClass(_ stat: String) -> (String, String)? {
        let tail = stat.suffix(4)
        guard stat.count > 7, tail.first == "_", tail.dropFirst().first?.isNumber == true, tail.hasSuffix("xx"),
              stat.dropLast(4).hasSuffix("_rq") else { return nil }
        return (String(stat.dropLast(4)), String(tail.dropFirst().prefix(1)))
    }

    /// Envoy's Prometheus family name: `envoy_` + the name with every non-alphanumeric as `_`.
    public static func familyName(_ name: String) -> String {
        var out = "envoy_"
        out.reserveCapacity(name.utf8.count + 6)
        for scalar in name.unicodeScalars {
            if (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") {
                out.unicodeScalars.append(scalar)
            } else {
                out.append("_")
            }
        }
        return out
    }
}
