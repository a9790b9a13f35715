import FerryConfig
import FerryTelemetry

/// `request_headers_to_add/remove` and `response_headers_to_add/remove` of the weighted cluster,
/// route, virtual host and route configuration, applied in Envoy's order.
extension ActiveStream {
    func applyRequestMutations(_ headers: inout HeaderMap) {
        applyLevels(weightedTarget?.requestHeaders, route?.requestHeaders, virtualHost?.requestHeaders,
                    hcm.routeConfig.requestHeaders, to: &headers)
    }

    func applyResponseMutations(_ headers: inout HeaderMap) {
        applyLevels(weightedTarget?.responseHeaders, route?.responseHeaders, virtualHost?.responseHeaders,
                    hcm.routeConfig.responseHeaders, to: &headers)
    }

    /// Applies the levels from the weighted cluster outwards to the route configuration (the
    /// outer level applied last wins), or the other way round with
    /// `most_specific_header_mutations_wins`. Four parameters rather than an array: this runs
    /// twice per request and an array allocated each time.
    private func applyLevels(_ target: HeaderMutations?, _ route: HeaderMutations?, _ host: HeaderMutations?,
                             _ config: HeaderMutations, to headers: inout HeaderMap) {
        if hcm.routeConfig.mostSpecificHeaderMutationsWins {
            applyIfAny(config, to: &headers)
            applyIfAny(host, to: &headers)
            applyIfAny(route, to: &headers)
            applyIfAny(target, to: &headers)
        } else {
            applyIfAny(target, to: &headers)
            applyIfAny(route, to: &headers)
            applyIfAny(host, to: &headers)
            applyIfAny(config, to: &headers)
        }
    }

    @inline(__always)
    private func applyIfAny(_ mutations: HeaderMutations?, to headers: inout HeaderMap) {
        if let mutations, !mutations.isEmpty { apply(mutations, to: &headers) }
    }

    func apply(_ mutations: HeaderMutations, to headers: inout HeaderMap) {
        for name in mutations.remove { headers.remove(name) }
        for option in mutations.add {
            let value = option.value.isLiteral ? option.value.literalValue : AccessLogFormatter.evaluateHeaderValue(option.value, self)
            if value.isEmpty && !option.keepEmptyValue { continue }
            switch option.action {
            case .appendIfExistsOrAdd: headers.addLowercased(option.name, value)
            case .addIfAbsent: if !headers.contains(option.name) { headers.addLowercased(option.name, value) }
            case .overwriteIfExistsOrAdd: headers.set(option.name, value)
            case .overwriteIfExists: if headers.contains(option.name) { headers.set(option.name, value) }
            }
        }
    }
}
