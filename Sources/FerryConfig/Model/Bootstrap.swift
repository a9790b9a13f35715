/// `envoy.config.bootstrap.v3.Bootstrap`: the root of an Envoy configuration file.
public struct Bootstrap: Sendable {
    public var node = NodeInfo()
    public var admin: Admin?
    public var listeners: [Listener] = []
    public var clusters: [Cluster] = []
    public var runtime = Runtime()

    public init() {}

    static func decode(_ r: ObjectReader, context: DecodeContext) -> Bootstrap {
        defer { r.finish() }
        var bootstrap = Bootstrap()
        if let node = r.object("node", "envoy.config.core.v3.Node") { bootstrap.node = NodeInfo.decode(node) }
        if let admin = r.object("admin", "envoy.config.bootstrap.v3.Admin") { bootstrap.admin = Admin.decode(admin, context: context) }
        if let layered = r.object("layered_runtime", "envoy.config.bootstrap.v3.LayeredRuntime") {
            bootstrap.runtime = Runtime.decode(layered)
        }
        if let resources = r.object("static_resources", "envoy.config.bootstrap.v3.Bootstrap.StaticResources") {
            defer { resources.finish() }
            bootstrap.listeners = resources.objects("listeners", "envoy.config.listener.v3.Listener").enumerated().compactMap {
                Listener.decode($0.element, index: $0.offset, context: context)
            }
            bootstrap.clusters = resources.objects("clusters", "envoy.config.cluster.v3.Cluster").compactMap {
                Cluster.decode($0, context: context)
            }
        }
        return bootstrap
    }
}

/// `envoy.config.core.v3.Node`: who this proxy is (shown by `/server_info`).
public struct NodeInfo: Sendable {
    public var id = ""
    public var cluster = ""
    public var locality = Locality()

    static func decode(_ r: ObjectReader) -> NodeInfo {
        defer { r.finish() }
        var node = NodeInfo()
        node.id = r.string("id") ?? ""
        node.cluster = r.string("cluster") ?? ""
        _ = r.raw("metadata")
        if let l = r.object("locality", "envoy.config.core.v3.Locality") { node.locality = Locality.decode(l) }
        return node
    }
}

/// `envoy.config.bootstrap.v3.Admin`.
public struct Admin: Sendable {
    public var address: SocketAddress
    public var accessLogs: [AccessLog] = []

    static func decode(_ r: ObjectReader, context: DecodeContext) -> Admin? {
        defer { r.finish() }
        var logs = r.objects("access_log", "envoy.config.accesslog.v3.AccessLog").compactMap { AccessLog.decode($0, context: context) }
        if let path = r.string("access_log_path"), !path.isEmpty, path != "/dev/null" {
            logs.append(AccessLog(name: "admin", sink: path == "/dev/stdout" ? .stdout : path == "/dev/stderr" ? .stderr : .file(path)))
        }
        guard let addressReader = r.object("address", "envoy.config.core.v3.Address") else { return nil }
        guard let address = SocketAddress.decodeAddress(addressReader) else { return nil }
        return Admin(address: address, accessLogs: logs)
    }
}

/// `layered_runtime`: static layers flattened to dotted keys; later layers override earlier ones.
public struct Runtime: Sendable {
    public struct Layer: Sendable {
        public var name: String
        /// nil for the admin layer (values set through `/runtime_modify`) and disk layers.
        public var values: [String: String]?
        /// A `disk_layer`: its values are read from files at run time (`Runtime+Layers.swift`).
        public var disk: DiskLayer? = nil
    }

    public var layers: [Layer] = []

    public init(layers: [Layer] = []) { self.layers = layers }

    /// The effective value of `key`: the last static layer that sets it.
    public func value(_ key: String) -> String? {
        for layer in layers.reversed() { if let v = layer.values?[key] { return v } }
        return nil
    }

    public var hasAdminLayer: Bool { layers.contains { $0.values == nil && $0.disk == nil } }

    /// Every key's effective value, later layers over earlier ones; the admin layer (if any)
    /// contributes `admin` (the `/runtime_modify` overrides) and each disk layer its values in
    /// `disk` (by layer name) at its place in the order.
    public func values(admin: [String: String], disk: [String: [String: String]] = [:]) -> [String: String] {
        var result: [String: String] = [:]
        for layer in effectiveLayers(admin: admin, disk: disk) {
            for (key, value) in layer.values { result[key] = value }
        }
        return result
    }

    static func decode(_ r: ObjectReader) -> Runtime {
        defer { r.finish() }
        var runtime = Runtime()
        for layer in r.objects("layers", "envoy.config.bootstrap.v3.RuntimeLayer") {
            defer { layer.finish() }
            let name = layer.requiredString("name") ?? ""
            if runtime.layers.contains(where: { $0.name == name }) {
                layer.diagnostics.error(layer.valueLocation(of: "name"), layer.join("name"), "duplicate layer name \"\(name)\"",
                                        fix: "give each runtime layer its own name")
            }
            switch layer.oneOf(["static_layer", "disk_layer", "admin_layer", "rtds_layer"], required: true, what: "layer kind") {
            case "static_layer":
                var values: [String: String] = [:]
                if let node = layer.raw("static_layer") { flatten(node, prefix: "", into: &values, path: layer.join("static_layer"), diagnostics: layer.diagnostics) }
                runtime.layers.append(Layer(name: name, values: values))
            case "disk_layer":
                let reader = layer.object("disk_layer", "envoy.config.bootstrap.v3.RuntimeLayer.DiskLayer")
                if let disk = reader.flatMap(DiskLayer.decode) { runtime.layers.append(Layer(name: name, values: nil, disk: disk)) }
            case "admin_layer":
                if runtime.hasAdminLayer {
                    layer.diagnostics.error(layer.location(of: "admin_layer"), layer.join("admin_layer"),
                                            "at most one admin layer may be specified",
                                            fix: "remove this layer; /runtime_modify writes to the first admin layer")
                }
                layer.object("admin_layer", "envoy.config.bootstrap.v3.RuntimeLayer.AdminLayer")?.finish()
                runtime.layers.append(Layer(name: name, values: nil))
            default: break
            }
        }
        return runtime
    }

    private static func flatten(_ node: ConfigNode, prefix: String, into values: inout [String: String], path: String,
                                diagnostics: DiagnosticCollector) {
        switch node.value {
        case .mapping(let entries):
            // A FractionalPercent {numerator, denominator} is one value, as Envoy reads it.
            if entries.contains(where: { $0.key == "numerator" }) {
                let n = entries.first { $0.key == "numerator" }?.value.scalarText ?? "0"
                let d = entries.first { $0.key == "denominator" }?.value.scalarText ?? "HUNDRED"
                values[prefix] = "\(n)/\(d)"
                return
            }
            for e in entries {
                flatten(e.value, prefix: prefix.isEmpty ? e.key : "\(prefix).\(e.key)", into: &values, path: "\(path).\(e.key)",
                        diagnostics: diagnostics)
            }
        case .scalar(let text, _): values[prefix] = text
        case .null: values[prefix] = ""
        case .sequence:
            diagnostics.error(node.location, path, "runtime values cannot be lists", fix: "use a scalar or a nested mapping")
        }
    }
}
