/// `envoy.config.core.v3.HealthCheck.GrpcHealthCheck`: the `grpc.health.v1.Health/Check` call
/// over HTTP/2. Healthy only when the answer has grpc-status 0 and status SERVING (as Envoy).
public struct GRPCHealthCheck: Sendable {
    /// The `service` field of the request; empty asks about the server as a whole.
    public var serviceName = ""
    /// `:authority`; empty means the endpoint's `hostname`, else the cluster's name (as Envoy).
    public var authority = ""
    /// `initial_metadata`: extra request headers (literal values only).
    public var initialMetadata: [(name: String, value: String)] = []

    public init() {}

    static let message = "envoy.config.core.v3.HealthCheck.GrpcHealthCheck"

    static func decode(_ r: ObjectReader) -> GRPCHealthCheck {
        defer { r.finish() }
        var check = GRPCHealthCheck()
        check.serviceName = r.string("service_name") ?? ""
        check.authority = r.string("authority") ?? ""
        for option in r.objects("initial_metadata", "envoy.config.core.v3.HeaderValueOption").compactMap(HeaderValueOption.decode) {
            guard option.value.isLiteral else {
                r.diagnostics.error(r.location(of: "initial_metadata"), r.join("initial_metadata"),
                                    "header \(option.name): format commands in initial_metadata are not supported yet by Ferry",
                                    fix: "write a literal value")
                continue
            }
            check.initialMetadata.append((option.name, option.value.literalValue))
        }
        return check
    }
}
