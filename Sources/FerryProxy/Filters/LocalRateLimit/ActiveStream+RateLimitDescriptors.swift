import FerryConfig

/// The request's rate limit descriptors for a `LocalRateLimit`, as Envoy 1.40 computes them.
extension ActiveStream {
    /// Empty unless the config has descriptors. With its own `rate_limits`, those; else the
    /// route's entries of the filter's stage (none for a route without a `route` action), then
    /// the virtual host's as `vh_rate_limits` (or the route's `include_vh_rate_limits`) says.
    /// Entries with a `disable_key` are skipped.
    func localRateLimitDescriptors(_ rule: LocalRateLimitRule) -> [RateLimitDescriptor] {
        // Read through the rule: a `LocalRateLimitConfig` passed by value would be copied (every
        // string in it) on each request.
        guard !rule.config.descriptors.isEmpty else { return [] }
        var out: [RateLimitDescriptor] = []
        if !rule.config.rateLimits.isEmpty {
            for rateLimit in rule.config.rateLimits { if let d = descriptor(rateLimit) { out.append(d) } }
            return out
        }
        guard case .route(let action)? = route?.action else { return [] }
        func add(_ rateLimits: [RouteRateLimit]) {
            for rateLimit in rateLimits where rateLimit.stage == rule.config.stage && rateLimit.disableKey.isEmpty {
                if let d = descriptor(rateLimit) { out.append(d) }
            }
        }
        add(action.rateLimits)
        guard let host = virtualHost, !host.rateLimits.isEmpty else { return out }
        switch action.includeVhRateLimits ? .include : rule.config.vhRateLimits {
        case .ignore: break
        case .include: add(host.rateLimits)
        case .override: if action.rateLimits.isEmpty { add(host.rateLimits) }
        }
        return out
    }

    /// One entry's descriptor: nil when an action cannot produce its entry.
    func descriptor(_ rateLimit: RouteRateLimit) -> RateLimitDescriptor? {
        var entries: [RateLimitDescriptor.Entry] = []
        entries.reserveCapacity(rateLimit.actions.count)
        for action in rateLimit.actions {
            switch entry(action) {
            case .entry(let e): entries.append(e)
            case .skip: continue
            case .none: return nil
            }
        }
        return RateLimitDescriptor(entries)
    }

    enum ActionResult {
        case entry(RateLimitDescriptor.Entry)
        /// `skip_if_absent` and nothing there: the descriptor goes on without this entry.
        case skip
        /// The descriptor is not produced.
        case none
    }

    func entry(_ action: RouteRateLimit.Action) -> ActionResult {
        switch action {
        case .sourceCluster:
            return .entry(.init("source_cluster", generation.bootstrap.node.cluster))
        case .destinationCluster:
            return routeClusterName().map { .entry(.init("destination_cluster", $0)) } ?? .none
        case .requestHeaders(let header, let key, let skipIfAbsent):
            guard let value = firstRequestHeader(header) else { return skipIfAbsent ? .skip : .none }
            return .entry(.init(key, value))
        case .queryParameters(let name, let key, let skipIfAbsent):
            guard let value = QueryString.decodedFirst(name, in: request.query) else { return skipIfAbsent ? .skip : .none }
            return .entry(.init(key, value))
        case .remoteAddress:
            guard let ip = downstreamRemoteIP else { return .none }
            // An IPv6 address from x-forwarded-for is written as Envoy prints it (`::1`, not `0::1`).
            let text = ip.contains(":") ? IPAddressBytes(ip)?.text ?? ip : ip
            return .entry(.init("remote_address", text))
        case .maskedRemoteAddress(let v4, let v6):
            guard let ip = downstreamRemoteIP.flatMap({ IPAddressBytes($0) }) else { return .none }
            let length = ip.isV4 ? v4 : v6
            return .entry(.init("masked_remote_address", "\(ip.masked(to: length).text)/\(length)"))
        case .genericKey(let key, let value):
            return .entry(.init(key, value))
        case .headerValueMatch(let key, let value, let expectMatch, let headers):
            let matched = headers.allSatisfy { $0.matches(CompiledRoute.headerValue($0.name, in: request)) }
            return matched == expectMatch ? .entry(.init(key, value)) : .none
        case .queryParameterValueMatch(let key, let value, let expectMatch, let parameters):
            let matched = parameters.allSatisfy { $0.matches(QueryString.decodedFirst($0.name, in: request.query)) }
            return matched == expectMatch ? .entry(.init(key, value)) : .none
        }
    }

    /// The first value of a request header; pseudo-headers and `host` read the request line
    /// (Envoy keeps `host` as `:authority`).
    func firstRequestHeader(_ name: String) -> String? {
        switch name {
        case ":method": request.method
        case ":path": request.path
        case ":authority", "host": request.authority
        case ":scheme": request.scheme
        default: request.headers.first(name)
        }
    }
}

extension QueryString {
    /// The first value of parameter `name`, both percent-decoded as Envoy's
    /// `parseAndDecodeQueryString` does (`+` stays `+`); "" for `name` without `=`.
    static func decodedFirst(_ name: String, in query: Substring?) -> String? {
        for (key, value) in parse(query) where percentDecoded(key) == name { return percentDecoded(value) }
        return nil
    }

    static func percentDecoded(_ text: Substring) -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var utf8 = text.utf8[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
               let high = hexValue(utf8[utf8.startIndex]), let low = hexValue(utf8[utf8.index(after: utf8.startIndex)]) {
                bytes.append(high << 4 | low)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
