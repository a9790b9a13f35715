import FerryConfig
import FerryTelemetry
import NIOCore

/// An HTTP connection manager compiled for the request path.
final class CompiledHCM: Sendable {
    let config: HttpConnectionManager
    /// What the forwarding headers (x-forwarded-for, via, internal or edge) depend on.
    let forwarding: RequestHeaderRules.ForwardingSettings
    let routeTable: RouteTable
    let routeConfig: RouteConfiguration
    let stats: HCMStats
    let router: HttpFilter.RouterConfig
    /// The configured filters before the router, in order, as each stream's chain reads them.
    let filterSlots: [FilterSlot]
    /// The chain of a stream whose route sets nothing for any filter, when it is the same for
    /// every stream.
    let fixedChain: FixedFilterChain?
    let accessLogs: [CompiledAccessLog]
    let localReply: CompiledLocalReply?
    let upgrades: [String: Bool]
    let limits: HTTP1Parser.Limits
    let streamIdleTimeout: TimeAmount?
    let requestTimeout: TimeAmount?
    /// `common_http_protocol_options.max_stream_duration`.
    let maxStreamDuration: TimeAmount?
    let requestHeadersTimeout: TimeAmount?
    let idleTimeout: TimeAmount?
    let drainTimeout: TimeAmount

    init(config: HttpConnectionManager, routeTable: RouteTable, stats: HCMStats, accessLogs: [CompiledAccessLog],
         filterFactories: [StreamFilterFactory]) {
        self.config = config
        forwarding = RequestHeaderRules.ForwardingSettings(config)
        self.routeTable = routeTable
        routeConfig = config.routeConfig
        self.stats = stats
        var router = HttpFilter.RouterConfig()
        for filter in config.httpFilters { if case .router(let r) = filter.kind { router = r } }
        self.router = router
        filterSlots = filterFactories.map(FilterSlot.init)
        fixedChain = FixedFilterChain(filterSlots)
        self.accessLogs = accessLogs
        localReply = config.localReplyConfig.map(CompiledLocalReply.init)
        var upgrades: [String: Bool] = [:]
        for u in config.upgradeConfigs { upgrades[u.upgradeType] = u.enabled }
        self.upgrades = upgrades
        var limits = HTTP1Parser.Limits()
        limits.maxHeaderBytes = Int(config.maxRequestHeadersKb) * 1024
        limits.maxRequestLineBytes = Int(config.maxRequestHeadersKb) * 1024
        limits.maxHeaderCount = Int(config.maxHeadersCount)
        self.limits = limits
        func nonZero(_ d: Duration) -> TimeAmount? { d == .zero ? nil : TimeAmount(d) }
        streamIdleTimeout = nonZero(config.streamIdleTimeout)
        requestTimeout = nonZero(config.requestTimeout)
        maxStreamDuration = config.maxStreamDuration.map(TimeAmount.init)
        requestHeadersTimeout = nonZero(config.requestHeadersTimeout)
        idleTimeout = nonZero(config.idleTimeout)
        drainTimeout = TimeAmount(config.drainTimeout)
    }
}

/// An access log with its formatter and open sink.
struct CompiledAccessLog: Sendable {
    let formatter: AccessLogFormatter
    let sink: AccessLogSink
    let filter: AccessLogFilter?
}

/// `local_reply_config` with formatters prepared.
struct CompiledLocalReply: Sendable {
    struct Format: Sendable {
        let formatter: AccessLogFormatter
        let contentType: String
    }

    struct Mapper: Sendable {
        let filter: AccessLogFilter
        let status: Int?
        let body: String?
        let format: Format?
        let headers: [HeaderValueOption]
    }

    let mappers: [Mapper]
    let format: Format?

    init(_ config: LocalReplyConfig) {
        mappers = config.mappers.map { m in
            Mapper(filter: m.filter, status: m.statusCode, body: m.body?.string, format: m.bodyFormat.map(Self.format),
                   headers: m.headersToAdd)
        }
        format = config.bodyFormat.map(Self.format)
    }

    static func format(_ f: SubstitutionFormat) -> Format {
        let isJSON: Bool
        if case .json = f.format { isJSON = true } else { isJSON = false }
        return Format(formatter: AccessLogFormatter(f.format), contentType: f.contentType ?? (isJSON ? "application/json" : "text/plain"))
    }
}
