import FerryConfig

/// What a filter hook tells the chain.
enum FilterStatus {
    /// Go on to the next filter (and finally the router).
    case proceed
    /// Stop here: the filter answered (local reply) or will resume the stream itself later.
    case stop
}

/// One HTTP filter's work on one stream, in the order of `http_filters`. Hooks default to doing
/// nothing; a filter implements only what it needs. Decode hooks run in config order before the
/// router, encode hooks in reverse order on the response head, `onComplete` once at the end.
protocol StreamFilter: AnyObject {
    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead)
    func onComplete(_ stream: ActiveStream)
}

extension StreamFilter {
    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus { .proceed }
    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {}
    func onComplete(_ stream: ActiveStream) {}
}

/// Makes a filter's per-stream object; compiled once per configuration generation.
protocol StreamFilterFactory: Sendable {
    func makeFilter() -> StreamFilter
}

enum StreamFilterFactories {
    /// Factories for the configured filters, in order (the router is the stream's own last step).
    static func make(_ filters: [HttpFilter], node: NodeInfo) -> [StreamFilterFactory] {
        filters.compactMap { filter in
            switch filter.kind {
            case .router: return nil
            case .healthCheck(let config): return HealthCheckFilterFactory(config: config, cluster: node.cluster)
            }
        }
    }
}
