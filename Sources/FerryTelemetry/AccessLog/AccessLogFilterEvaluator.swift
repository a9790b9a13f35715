import FerryConfig

/// Evaluates an `AccessLogFilter` against a request, for access logs and local reply mappers.
public enum AccessLogFilterEvaluator {
    public static func matches(_ filter: AccessLogFilter, _ info: some StreamInfo) -> Bool {
        switch filter {
        case .statusCode(let op, let value):
            return op.holds(UInt64(max(info.responseCode ?? 0, 0)), UInt64(value))
        case .duration(let op, let value):
            let ms = info.totalDuration.map { UInt64(max(0, $0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000)) } ?? 0
            return op.holds(ms, UInt64(value))
        case .notHealthCheck:
            return !info.isHealthCheckRequest
        case .and(let filters):
            return filters.allSatisfy { matches($0, info) }
        case .or(let filters):
            return filters.contains { matches($0, info) }
        case .header(let matcher):
            return matcher.matches(info.requestHeader(matcher.name))
        case .responseFlags(let names):
            let flags = info.responseFlags
            if names.isEmpty { return !flags.isEmpty }
            return names.contains { ResponseFlags.named($0).map { flags.contains($0) } ?? false }
        }
    }
}
