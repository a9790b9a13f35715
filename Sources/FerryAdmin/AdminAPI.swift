import FerryConfig
import FerryProxy
import FerryTelemetry
import Logging
import NIOHTTP1

/// Envoy's admin endpoints over a running `ProxyServer`. Each endpoint is declared once in
/// `endpoints` (path, method, help), which also produces `/` and `/help`.
public final class AdminAPI: Sendable {
    public struct Result: Sendable {
        var response: AdminResponse
        var afterSend: (@Sendable () -> Void)?
        /// Set for a server-sent events response (`response` gives status and content type).
        var events: EventStream?

        init(response: AdminResponse, afterSend: (@Sendable () -> Void)? = nil, events: EventStream? = nil) {
            self.response = response
            self.afterSend = afterSend
            self.events = events
        }
    }

    struct Endpoint: Sendable {
        let path: String
        let help: String
        let mutates: Bool
        let handler: @Sendable (AdminAPI, AdminRequest) async -> Result
    }

    public let proxy: ProxyServer
    public let levels: LogLevels
    public let info: ServerInfo
    let quit: @Sendable () -> Void
    let accessLogs: [(AccessLogFormatter, AccessLogSink)]

    public init(proxy: ProxyServer, levels: LogLevels, info: ServerInfo, quit: @escaping @Sendable () -> Void) {
        self.proxy = proxy
        self.levels = levels
        self.info = info
        self.quit = quit
        var logs: [(AccessLogFormatter, AccessLogSink)] = []
        for log in proxy.generation.bootstrap.admin?.accessLogs ?? [] {
            if let sink = try? AccessLogSinks.shared.sink(for: log.sink) { logs.append((AccessLogFormatter(log.format), sink)) }
        }
        accessLogs = logs
    }

    static let endpoints: [Endpoint] = [
        Endpoint(path: "/", help: "Admin home page", mutates: false) { a, _ in .init(response: a.index()) },
        Endpoint(path: "/help", help: "print out list of admin commands", mutates: false) { _, _ in .init(response: AdminResponse(help())) },
        Endpoint(path: "/ready", help: "print server state, return 200 if LIVE, otherwise return 503", mutates: false) { a, _ in .init(response: a.ready()) },
        Endpoint(path: "/server_info", help: "print server version/status information", mutates: false) { a, _ in .init(response: a.serverInfo()) },
        Endpoint(path: "/stats", help: "print server stats (format=text|json, filter=regex, usedonly, type=All|Counters|Gauges|Histograms)", mutates: false) { a, r in
            .init(response: await a.stats(r))
        },
        Endpoint(path: "/stats/prometheus", help: "print server stats in prometheus format (usedonly, filter=regex, naming=envoy for Envoy's exact names)", mutates: false) { a, r in
            .init(response: await a.prometheus(r))
        },
        Endpoint(path: "/clusters", help: "upstream cluster status (format=text|json)", mutates: false) { a, r in .init(response: await a.clusters(r)) },
        Endpoint(path: "/config_dump", help: "dump current configuration (resource=, name_regex=)", mutates: false) { a, r in .init(response: a.configDump(r)) },
        Endpoint(path: "/listeners", help: "print listener info (format=text|json)", mutates: false) { a, r in .init(response: a.listeners(r)) },
        Endpoint(path: "/memory", help: "print current allocation/heap usage", mutates: false) { _, _ in .init(response: memory()) },
        Endpoint(path: "/runtime", help: "print runtime values", mutates: false) { a, _ in .init(response: a.runtime()) },
        Endpoint(path: "/governance", help: "Ferry: live state of the governance rules (rate limits, breakers, bulkheads) with their counters, as JSON", mutates: false) { a, _ in
            .init(response: await a.governance())
        },
        Endpoint(path: "/governance/stream", help: "Ferry: /governance as server-sent events, once a second (interval_ms=, count=)", mutates: false) { a, r in
            a.governanceStream(r)
        },
        Endpoint(path: "/runtime_modify", help: "Adds or modifies runtime values as passed in query parameters. To delete a previously added key, use an empty string as the value.", mutates: true) { a, r in
            .init(response: await a.runtimeModify(r))
        },
        Endpoint(path: "/logging", help: "query/change logging levels (level=, paths=component:level,...)", mutates: true) { a, r in
            .init(response: a.logging(r))
        },
        Endpoint(path: "/healthcheck/fail", help: "cause the server to fail health checks", mutates: true) { a, _ in
            a.proxy.state.healthCheckFailed = true
            return .init(response: AdminResponse("OK\n"))
        },
        Endpoint(path: "/healthcheck/ok", help: "cause the server to pass health checks", mutates: true) { a, _ in
            a.proxy.state.healthCheckFailed = false
            return .init(response: AdminResponse("OK\n"))
        },
        Endpoint(path: "/reset_counters", help: "reset all counters to zero", mutates: true) { a, _ in
            let view = await a.proxy.statsView()
            a.proxy.store.resetCounters(toRaw: view.rawCounters)
            return .init(response: AdminResponse("OK\n"))
        },
        Endpoint(path: "/quitquitquit", help: "exit the server (after answering requests in flight, within --drain-time-s)", mutates: true) { a, _ in
            .init(response: AdminResponse("OK\n"), afterSend: { [quit = a.quit] in quit() })
        },
        Endpoint(path: "/drain_listeners", help: "stop accepting connections (?inboundonly: INBOUND listeners only; ?graceful: after the drain time, asking clients to close meanwhile); keep-alive connections close after their next response", mutates: true) { a, r in
            await a.proxy.drainListeners(inboundOnly: r.query["inboundonly"] != nil, graceful: r.query["graceful"] != nil)
            return .init(response: AdminResponse("OK\n"))
        },
        Endpoint(path: "/reload", help: "Ferry: re-read the configuration files and apply them without dropping connections", mutates: true) { a, _ in
            switch await a.proxy.reload() {
            case .success(let generation): return .init(response: AdminResponse("OK: configuration generation \(generation) is active\n"))
            case .failure(let failure):
                return .init(response: AdminResponse(.badRequest, "reload failed; generation \(a.proxy.generation.id) stays active:\n\(failure.message)\n"))
            }
        },
    ]

    public func handle(_ request: AdminRequest) async -> Result {
        let result = await dispatch(request)
        logAccess(request, status: Int(result.response.status.code), bytes: result.response.body.utf8.count)
        return result
    }

    private func dispatch(_ request: AdminRequest) async -> Result {
        guard let endpoint = Self.endpoints.first(where: { $0.path == request.path }) else {
            return .init(response: AdminResponse(.notFound, "invalid path. \(Self.help())"))
        }
        if endpoint.mutates && request.method != .POST {
            return .init(response: AdminResponse(.methodNotAllowed,
                                                 "This endpoint changes server state and requires POST; try: curl -X POST 'http://<admin>\(request.path)'\n"))
        }
        if !endpoint.mutates && request.method != .GET && request.method != .HEAD {
            return .init(response: AdminResponse(.methodNotAllowed, "\(request.path) accepts GET only\n"))
        }
        return await endpoint.handler(self, request)
    }

    static func help() -> String {
        "admin commands are:\n" + endpoints.map { "  \($0.path)\($0.mutates ? " (POST)" : ""): \($0.help)" }.joined(separator: "\n") + "\n"
    }

    func index() -> AdminResponse {
        var html = "<!DOCTYPE html>\n<html lang='en'><head><title>Ferry Admin</title></head><body>\n<h1>Ferry Admin</h1>\n<table>\n"
        for e in Self.endpoints where e.path != "/" {
            if e.mutates {
                html += "<tr><td><form action='\(e.path)' method='post'><button>\(e.path)</button></form></td><td>\(e.help)</td></tr>\n"
            } else {
                html += "<tr><td><a href='\(e.path)'>\(e.path)</a></td><td>\(e.help)</td></tr>\n"
            }
        }
        html += "</table>\n</body></html>\n"
        return AdminResponse(contentType: "text/html; charset=UTF-8", html)
    }

    func ready() -> AdminResponse {
        let phase = proxy.state.reportedPhase
        return AdminResponse(phase == .live ? .ok : .serviceUnavailable, phase.envoyName + "\n")
    }

    private func logAccess(_ request: AdminRequest, status: Int, bytes: Int) {
        guard !accessLogs.isEmpty else { return }
        let info = AdminStreamInfo(request: request, status: status, bytes: UInt64(bytes))
        for (formatter, sink) in accessLogs { sink.write(formatter.format(info)) }
    }
}
