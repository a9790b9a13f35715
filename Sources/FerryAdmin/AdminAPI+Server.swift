import CFerrySystem
import FerryConfig
import FerryProxy
import FerryTelemetry
import Logging
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// What `/server_info` reports about the process and its command line.
public struct ServerInfo: Sendable {
    public var version: String
    /// Envoy's command_line_options, as (key, JSON value) pairs in order.
    public var commandLine: [(String, String)]

    public init(version: String, commandLine: [(String, String)]) {
        self.version = version
        self.commandLine = commandLine
    }
}

extension AdminAPI {
    func serverInfo() -> AdminResponse {
        let state = proxy.state
        let uptime = (NIODeadline.now().uptimeNanoseconds - state.startUptimeNanos) / 1_000_000_000
        let node = proxy.generation.bootstrap.node
        let options = info.commandLine.map { "  \(JSON.quote($0.0)): \($0.1)" }.joined(separator: ",\n")
        let body = """
        {
         "version": \(JSON.quote(info.version)),
         "state": "\(state.reportedPhase.envoyName)",
         "uptime_current_epoch": "\(uptime)s",
         "uptime_all_epochs": "\(uptime)s",
         "hot_restart_version": "disabled",
         "config_generation": \(proxy.generation.id),
         "last_reload_error": \(proxy.lastReloadStatus.error.map { JSON.quote($0) } ?? "null"),
         "command_line_options": {
        \(options)
         },
         "node": {
          "id": \(JSON.quote(node.id)),
          "cluster": \(JSON.quote(node.cluster)),
          "locality": {"region": \(JSON.quote(node.locality.region)), "zone": \(JSON.quote(node.locality.zone)), "sub_zone": \(JSON.quote(node.locality.subZone))},
          "user_agent_name": "ferry"
         }
        }

        """
        return .json(body)
    }

    func configDump(_ r: AdminRequest) -> AdminResponse {
        let generation = proxy.generation
        let document = generation.loaded.document
        let stamp = JSON.quote(Self.isoTime(proxy.state.startWallSeconds))
        var filter: ((String) -> Bool)?
        if let pattern = r.query["name_regex"], !pattern.isEmpty {
            guard let regex = try? Regex(pattern) else { return AdminResponse(.badRequest, "invalid name_regex\n") }
            let boxed = UncheckedRegex(regex: regex)
            filter = { name in (try? boxed.regex.wholeMatch(in: name)) != nil }
        }
        func named(_ nodes: [ConfigNode], key: String) -> [String] {
            nodes.compactMap { node in
                let name = node.entry("name")?.value.scalarText ?? ""
                if let filter, !filter(name) { return nil }
                return "{\"\(key)\":\(ConfigJSON.render(node)),\"last_updated\":\(stamp)}"
            }
        }
        let resources = document.entry("static_resources")?.value
        let clusters = named(resources?.entry("clusters")?.value.elements ?? [], key: "cluster")
        let listeners = named(resources?.entry("listeners")?.value.elements ?? [], key: "listener")
        var routes: [String] = []
        for listener in resources?.entry("listeners")?.value.elements ?? [] {
            let chains = (listener.entry("filter_chains")?.value.elements ?? []) + [listener.entry("default_filter_chain")?.value].compactMap { $0 }
            for chain in chains {
                for f in chain.entry("filters")?.value.elements ?? [] {
                    if let rc = f.entry("typed_config")?.value.entry("route_config")?.value {
                        let name = rc.entry("name")?.value.scalarText ?? ""
                        if let filter, !filter(name) { continue }
                        routes.append("{\"route_config\":\(ConfigJSON.render(rc)),\"last_updated\":\(stamp)}")
                    }
                }
            }
        }
        let sections: [(String, String, String)] = [
            ("bootstrap", "envoy.admin.v3.BootstrapConfigDump", "\"bootstrap\":\(ConfigJSON.render(document)),\"last_updated\":\(stamp)"),
            ("static_clusters", "envoy.admin.v3.ClustersConfigDump", "\"static_clusters\":[\(clusters.joined(separator: ","))]"),
            ("static_listeners", "envoy.admin.v3.ListenersConfigDump", "\"static_listeners\":[\(listeners.joined(separator: ","))]"),
            ("static_route_configs", "envoy.admin.v3.RoutesConfigDump", "\"static_route_configs\":[\(routes.joined(separator: ","))]"),
        ]
        // ?resource= names a repeated field; as Envoy, each element becomes its own config
        // typed with the element's message.
        let elements: [String: (type: String, items: [String])] = [
            "static_clusters": ("envoy.admin.v3.ClustersConfigDump.StaticCluster", clusters),
            "static_listeners": ("envoy.admin.v3.ListenersConfigDump.StaticListener", listeners),
            "static_route_configs": ("envoy.admin.v3.RoutesConfigDump.StaticRouteConfig", routes),
        ]
        if let resource = r.query["resource"], !resource.isEmpty {
            guard let (type, items) = elements[resource] else {
                return AdminResponse(.badRequest, "unknown resource \(resource); use one of \(elements.keys.sorted().joined(separator: ", "))\n")
            }
            let configs = items.map { "{\"@type\":\"type.googleapis.com/\(type)\"," + $0.dropFirst() }
            return .json("{\"configs\":[\(configs.joined(separator: ","))]}\n")
        }
        let configs = sections.map { "{\"@type\":\"type.googleapis.com/\($0.1)\",\($0.2)}" }
        return .json("{\"configs\":[\(configs.joined(separator: ",\n"))]}\n")
    }

    func runtime() -> AdminResponse {
        // Disk layers whose directory is missing are not listed, as in Envoy.
        let runtime = proxy.generation.bootstrap.runtime
        let admin = proxy.adminRuntimeValues, disk = proxy.runtimeDiskValues
        let layered = runtime.effectiveLayers(admin: admin, disk: disk)
        let final = runtime.values(admin: admin, disk: disk)
        let entries = final.keys.sorted().map { key -> String in
            let values = layered.map { JSON.quote($0.values[key] ?? "") }.joined(separator: ",")
            return "\(JSON.quote(key)):{\"layer_values\":[\(values)],\"final_value\":\(JSON.quote(final[key] ?? ""))}"
        }
        let layers = layered.map { JSON.quote($0.name) }.joined(separator: ",")
        return .json("{\"entries\":{\(entries.joined(separator: ","))},\"layers\":[\(layers)]}\n")
    }

    /// `/runtime_modify?key=value&...`: admin-layer overrides, as Envoy's.
    func runtimeModify(_ r: AdminRequest) async -> AdminResponse {
        guard !r.query.isEmpty else { return AdminResponse(.badRequest, "usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n") }
        switch await proxy.modifyRuntime(r.query) {
        case .success: return AdminResponse("OK\n")
        case .failure(let error): return AdminResponse(.serviceUnavailable, "\(error)\n")
        }
    }

    func logging(_ r: AdminRequest) -> AdminResponse {
        if let level = r.query["level"] {
            guard let parsed = LogLevels.parse(level) else { return AdminResponse(.badRequest, "invalid level \"\(level)\"\n" + loggers()) }
            levels.setAll(parsed)
        }
        if let paths = r.query["paths"] {
            for item in paths.split(separator: ",") {
                let parts = item.split(separator: ":")
                guard parts.count == 2, let level = LogLevels.parse(String(parts[1])), LogLevels.components.contains(String(parts[0])) else {
                    return AdminResponse(.badRequest, "invalid paths entry \"\(item)\"; use component:level\n" + loggers())
                }
                levels.set(String(parts[0]), level)
            }
        }
        for (key, value) in r.query where LogLevels.components.contains(key) {
            guard let level = LogLevels.parse(value) else { return AdminResponse(.badRequest, "invalid level \"\(value)\"\n") }
            levels.set(key, level)
        }
        return AdminResponse(loggers())
    }

    func loggers() -> String {
        "active loggers:\n" + levels.snapshot.map { "  \($0.0): \(LogLevels.name($0.1))" }.joined(separator: "\n") + "\n"
    }

    static func memory() -> AdminResponse {
        var allocated = 0, heap = 0, free = 0
        ferry_malloc_stats(&allocated, &heap, &free)
        var rss = 0
        if let statm = try? String(contentsOfFileAtPath: "/proc/self/statm"), let pages = Int(statm.split(separator: " ").dropFirst().first ?? "") {
            rss = pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        }
        return .json("""
        {
         "allocated": "\(allocated)",
         "heap_size": "\(heap)",
         "pageheap_unmapped": "0",
         "pageheap_free": "\(free)",
         "total_thread_cache": "0",
         "total_physical_bytes": "\(rss)"
        }

        """)
    }

    static func isoTime(_ seconds: Int64) -> String {
        var t = time_t(seconds)
        var tm = tm()
        gmtime_r(&t, &tm)
        func pad(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1))-\(pad(tm.tm_mday))T\(pad(tm.tm_hour)):\(pad(tm.tm_min)):\(pad(tm.tm_sec))Z"
    }
}

extension String {
    init(contentsOfFileAtPath path: String) throws {
        guard let f = fopen(path, "r") else { throw ConfigJSON.ReadError() }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        self = String(decoding: out, as: UTF8.self)
    }
}

/// Renders a configuration tree as JSON, typing plain scalars as numbers and booleans.
enum ConfigJSON {
    struct ReadError: Error {}

    static func render(_ node: ConfigNode) -> String {
        switch node.value {
        case .mapping(let entries):
            return "{" + entries.map { "\(JSON.quote($0.key)):\(render($0.value))" }.joined(separator: ",") + "}"
        case .sequence(let items):
            return "[" + items.map(render).joined(separator: ",") + "]"
        case .null:
            return "null"
        case .scalar(let text, let style):
            if style == .plain {
                if text == "true" || text == "false" { return text }
                if Int64(text) != nil { return text }
                if let d = Double(text), d.isFinite, text.first != "." { return text }
            }
            return JSON.quote(text)
        }
    }
}
