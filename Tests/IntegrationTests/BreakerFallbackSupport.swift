import FerryTestKit
import Foundation

/// Config snippets and helpers shared by the circuit breaker and fallback integration tests.
enum BreakerSupport {
    static let breakerType = "type.googleapis.com/ferry.filters.http.circuit_breaker.v1.CircuitBreaker"
    static let fallbackType = "type.googleapis.com/ferry.filters.http.fallback.v1.Fallback"

    /// An upstream's health, flipped by the test while the upstream script reads it.
    final class Health: @unchecked Sendable {
        private let lock = NSLock()
        private var healthy: Bool
        init(_ healthy: Bool) { self.healthy = healthy }
        var isHealthy: Bool {
            get { lock.withLock { healthy } }
            set { lock.withLock { healthy = newValue } }
        }
    }

    /// An http_filters item for the breaker with `fields` (flow-style YAML fields, comma-separated).
    static func breaker(_ fields: String, name: String = "ferry.filters.http.circuit_breaker") -> String {
        "- name: \(name)\n  typed_config: {\"@type\": \(breakerType), stat_prefix: api, \(fields)}\n"
    }

    static func fallback(_ fields: String) -> String {
        "- name: ferry.filters.http.fallback\n  typed_config: {\"@type\": \(fallbackType), stat_prefix: api, \(fields)}\n"
    }

    /// A breaker that opens after 4 calls with half of them failed, waits `wait`, then probes `probes` times.
    static func trippingFields(wait: String = "1s", probes: Int = 2) -> String {
        "sliding_window: {type: COUNT_BASED, size: 4}, minimum_number_of_calls: 4, failure_rate_threshold: 50, "
            + "wait_duration_in_open_state: \(wait), permitted_calls_in_half_open_state: \(probes)"
    }

    /// The `state` object of the /governance rule whose key ends with `suffix`.
    static func governanceState(admin: Int, keySuffix suffix: String) async throws -> [String: Any]? {
        let live = try await Curl.fetch("http://127.0.0.1:\(admin)/governance")
        let document = try JSONSerialization.jsonObject(with: Data(live.body.utf8)) as? [String: Any]
        let rules = document?["rules"] as? [[String: Any]] ?? []
        return rules.first { ($0["key"] as? String)?.hasSuffix(suffix) == true }?["state"] as? [String: Any]
    }
}
