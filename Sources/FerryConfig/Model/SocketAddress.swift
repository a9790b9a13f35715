/// `envoy.config.core.v3.SocketAddress` (TCP only). Port 0 asks the kernel for a free port.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    public var address: String
    public var port: Int
    public var location: SourceLocation

    public init(address: String, port: Int, location: SourceLocation = .unknown) {
        self.address = address
        self.port = port
        self.location = location
    }

    /// `127.0.0.1:9901`, `[::1]:9901`.
    public var description: String { address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)" }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.address == rhs.address && lhs.port == rhs.port
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(address)
        hasher.combine(port)
    }

    /// Decodes an `envoy.config.core.v3.Address` holding a `socket_address`.
    static func decodeAddress(_ r: ObjectReader) -> SocketAddress? {
        defer { r.finish() }
        guard r.has("socket_address") else {
            if r.keys.isEmpty || !r.keys.contains(where: { ["pipe", "envoy_internal_address"].contains($0) }) {
                r.diagnostics.error(r.node.location, r.path, "address has no socket_address",
                                    fix: "write `socket_address: {address: 127.0.0.1, port_value: 8080}`")
            }
            return nil
        }
        guard let s = r.object("socket_address", "envoy.config.core.v3.SocketAddress") else { return nil }
        defer { s.finish() }
        let address = s.requiredString("address", fix: "set the IP address or host name, e.g. `address: 127.0.0.1`")
        if let proto = s.string("protocol"), proto != "TCP" {
            s.diagnostics.error(s.valueLocation(of: "protocol"), s.join("protocol"),
                                "protocol \(proto) is not supported yet by Ferry", fix: "use TCP (the default)")
        }
        var port = 0
        var badPort = false  // already reported; must not become port 0 and a second "needs a port" error
        if s.has("named_port") {
            _ = s.raw("named_port")
            s.diagnostics.error(s.location(of: "named_port"), s.join("named_port"), "named_port is not supported by Envoy or Ferry",
                                fix: "use port_value")
        } else if let value = s.integer("port_value", in: 0...65535) {
            port = Int(value)
        } else {
            badPort = s.has("port_value")
        }
        s.accept("resolver_name", "ipv4_compat")
        if s.has("resolver_name") || s.has("ipv4_compat") {
            for key in ["resolver_name", "ipv4_compat"] where s.has(key) {
                s.diagnostics.error(s.location(of: key), s.join(key), "SocketAddress.\(key) is not supported yet by Ferry",
                                    fix: "remove it")
            }
        }
        guard let address, !badPort else { return nil }
        return SocketAddress(address: address, port: port, location: s.node.location)
    }
}
