import FerryConfig

/// `envoy.filters.http.health_check`: requests matching `headers` are health checks. Ferry
/// answers them itself (200, or 503 with `x-envoy-immediate-health-check-fail` while the server
/// is failed by `/healthcheck/fail` or draining), or in pass-through mode forwards them and
/// still fails them locally when the server is failed. Traffic that is not a health check flows
/// as usual, which is what rolling deploys need, and carries
/// `x-envoy-immediate-health-check-fail: true` while the server is failed, as in Envoy.
final class HealthCheckFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let config: HttpFilter.HealthCheckConfig
    let cluster: String

    init(name: String, disabledByDefault: Bool, config: HttpFilter.HealthCheckConfig, cluster: String) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        self.config = config
        self.cluster = cluster
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? { HealthCheckFilter(config: config, cluster: cluster) }
}

final class HealthCheckFilter: StreamFilter {
    let config: HttpFilter.HealthCheckConfig
    let cluster: String
    private var matched = false

    init(config: HttpFilter.HealthCheckConfig, cluster: String) {
        self.config = config
        self.cluster = cluster
    }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        for matcher in config.headers where !matcher.matches(CompiledRoute.headerValue(matcher.name, in: stream.request)) {
            return .proceed
        }
        matched = true
        stream.isHealthCheck = true
        var headers = HeaderMap()
        headers.addLowercased("x-envoy-upstream-healthchecked-cluster", cluster)
        let server = stream.worker.server
        if server.healthCheckFailed || server.isDraining {
            headers.addLowercased("x-envoy-immediate-health-check-fail", "true")
            stream.sendLocalReply(503, body: "", details: "health_check_failed", extraHeaders: headers)
            return .stop
        }
        if config.passThrough { return .proceed }
        stream.sendLocalReply(200, body: "", details: "health_check_ok", extraHeaders: headers)
        return .stop
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        if matched && config.passThrough && !head.headers.contains("x-envoy-upstream-healthchecked-cluster") {
            head.headers.addLowercased("x-envoy-upstream-healthchecked-cluster", cluster)
        }
        // As Envoy's filter: while failed by /healthcheck/fail, every response through it says
        // so, so that a downstream Envoy or Ferry ejects this host at once.
        if stream.worker.server.healthCheckFailed && !head.headers.contains("x-envoy-immediate-health-check-fail") {
            head.headers.addLowercased("x-envoy-immediate-health-check-fail", "true")
        }
    }
}
