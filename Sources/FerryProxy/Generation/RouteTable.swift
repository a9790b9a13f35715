import FerryConfig

/// The compiled route table of one HTTP connection manager: virtual hosts chosen by domain in
/// Envoy's order (exact, then longest `*.suffix`, then longest `prefix*`, then `*`), then
/// the first matching route of that host.
final class RouteTable: Sendable {
    let virtualHosts: [CompiledVirtualHost]
    let exact: [String: Int]
    let suffixes: [(String, Int)]
    let prefixes: [(String, Int)]
    let fallback: Int?
    let ignorePort: Bool

    init(virtualHosts: [CompiledVirtualHost], ignorePortInHostMatching: Bool) {
        self.virtualHosts = virtualHosts
        ignorePort = ignorePortInHostMatching
        var exact: [String: Int] = [:]
        var suffixes: [(String, Int)] = []
        var prefixes: [(String, Int)] = []
        var fallback: Int?
        for (i, host) in virtualHosts.enumerated() {
            for domain in host.domains {
                if domain == "*" { fallback = i }
                else if domain.hasPrefix("*") { suffixes.append((String(domain.dropFirst()), i)) }
                else if domain.hasSuffix("*") { prefixes.append((String(domain.dropLast()), i)) }
                else { exact[domain] = i }
            }
        }
        self.exact = exact
        // Longest wildcard first; ties keep config order.
        self.suffixes = suffixes.enumerated().sorted { ($0.element.0.count, -$0.offset) > ($1.element.0.count, -$1.offset) }.map(\.element)
        self.prefixes = prefixes.enumerated().sorted { ($0.element.0.count, -$0.offset) > ($1.element.0.count, -$1.offset) }.map(\.element)
        self.fallback = fallback
    }

    /// `authority` is the Host / `:authority` value.
    func virtualHost(for authority: String?) -> CompiledVirtualHost? {
        guard let authority, !authority.isEmpty else { return fallback.map { virtualHosts[$0] } }
        var host = authority.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) ? authority.lowercased() : authority
        if ignorePort, let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") { host = String(host[..<colon]) }
        if !exact.isEmpty, let i = exact[host] { return virtualHosts[i] }
        // A wildcard must match at least one character.
        for (suffix, i) in suffixes where host.count > suffix.count && host.hasSuffix(suffix) { return virtualHosts[i] }
        for (prefix, i) in prefixes where host.count > prefix.count && host.hasPrefix(prefix) { return virtualHosts[i] }
        return fallback.map { virtualHosts[$0] }
    }
}

/// A compiled virtual host.
final class CompiledVirtualHost: Sendable {
    let name: String
    let domains: [String]
    let routes: [CompiledRoute]
    let requestHeaders: HeaderMutations
    let responseHeaders: HeaderMutations
    let includeRequestAttemptCount: Bool
    let includeAttemptCountInResponse: Bool
    /// Per-filter settings of the virtual host (over the route configuration's), for requests
    /// that match no route.
    let filterSettings: [RouteFilterSetting]
    /// `rate_limits`, for the local rate limit filter.
    let rateLimits: [RouteRateLimit]

    init(_ host: VirtualHost, routes: [CompiledRoute], filterSettings: [RouteFilterSetting] = []) {
        self.filterSettings = filterSettings
        rateLimits = host.rateLimits
        name = host.name
        domains = host.domains
        self.routes = routes
        requestHeaders = host.requestHeaders
        responseHeaders = host.responseHeaders
        includeRequestAttemptCount = host.includeRequestAttemptCount
        includeAttemptCountInResponse = host.includeAttemptCountInResponse
    }

    func route(for request: RequestHead) -> CompiledRoute? {
        let path = request.pathWithoutQuery
        for route in routes where route.matches(request, path: path) { return route }
        return nil
    }
}
