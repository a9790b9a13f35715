import FerryTelemetry
import NIOHTTP1

extension AdminAPI {
    func statsOptions(_ r: AdminRequest) -> Swift.Result<StatsView.Options, AdminResponse> {
        var options = StatsView.Options()
        options.usedOnly = r.query["usedonly"] != nil
        if let filter = r.query["filter"], !filter.isEmpty {
            guard let regex = try? Regex(filter) else {
                return .failure(AdminResponse(.badRequest, "Invalid regex: \"\(filter)\"\n"))
            }
            let boxed = UncheckedRegex(regex: regex)
            let invert = r.query["invert_filter"] != nil
            options.filter = { name in ((try? boxed.regex.firstMatch(in: name)) != nil) != invert }
        }
        switch r.query["type"]?.lowercased() {
        case nil, "all": break
        case "counters": options.includeGauges = false; options.includeHistograms = false
        case "gauges": options.includeCounters = false; options.includeHistograms = false
        case "histograms": options.includeCounters = false; options.includeGauges = false
        case "textreadouts": options.includeCounters = false; options.includeGauges = false; options.includeHistograms = false
        default: return .failure(AdminResponse(.badRequest, "invalid type; use All, Counters, Gauges, Histograms\n"))
        }
        return .success(options)
    }

    func stats(_ r: AdminRequest) async -> AdminResponse {
        let options: StatsView.Options
        switch statsOptions(r) {
        case .success(let o): options = o
        case .failure(let response): return response
        }
        let view = await proxy.statsView()
        switch r.query["format"] ?? "text" {
        case "json": return .json(view.renderJSON(options))
        case "prometheus": return AdminResponse(contentType: "text/plain; version=0.0.4", PrometheusRenderer().render(view, options: options))
        case "text", "html": return AdminResponse(view.renderText(options))
        default: return AdminResponse(.badRequest, "invalid format; use text, json or prometheus\n")
        }
    }

    func prometheus(_ r: AdminRequest) async -> AdminResponse {
        let options: StatsView.Options
        switch statsOptions(r) {
        case .success(let o): options = o
        case .failure(let response): return response
        }
        let naming: PrometheusRenderer.Naming = r.query["naming"] == "envoy" ? .envoy : .promtoolClean
        let view = await proxy.statsView()
        return AdminResponse(contentType: "text/plain; version=0.0.4; charset=utf-8", PrometheusRenderer(naming: naming).render(view, options: options))
    }
}

/// A compiled admin filter regex, only ever read.
struct UncheckedRegex: @unchecked Sendable {
    let regex: Regex<AnyRegexOutput>
}
