@testable import FerryConfig
import Testing

/// `ferry.filters.http.bulkhead` and `ferry.filters.http.idempotency`: defaults, and every
/// inconsistent field refused where it is written, with a fix.
@Suite("Bulkhead and idempotency config")
struct GovernanceFilterConfigTests {
    static let filterPath = "\(Fixture.hcm).http_filters[0].typed_config"

    static func filters(_ type: String, _ fields: String) -> String {
        """
        - name: gov
          typed_config: {"@type": type.googleapis.com/\(type), \(fields)}
        """ + "\n" + Fixture.router
    }

    static func bulkhead(_ fields: String) -> String { Fixture.bootstrap(httpFilters: filters("ferry.filters.http.bulkhead.v1.Bulkhead", fields)) }
    static func idempotency(_ fields: String) -> String {
        Fixture.bootstrap(httpFilters: filters("ferry.filters.http.idempotency.v1.Idempotency", fields))
    }

    static func decoded(_ yaml: String) -> HttpFilter.Kind? {
        Fixture.load(yaml)?.listeners[0].httpConnectionManager?.httpFilters.first?.kind
    }

    @Test("a bulkhead decodes its fields; enabled and enforced default to 100%, status to 503, max_keys to 1000")
    func bulkheadDefaults() throws {
        guard case .bulkhead(let c)? = Self.decoded(Self.bulkhead("stat_prefix: api, max_concurrent_requests: 4, max_queue: 2, max_wait: 0.5s, key: {header: X-Tenant}")) else {
            Issue.record("not decoded as a bulkhead")
            return
        }
        #expect(c.maxConcurrentRequests == 4 && c.maxQueue == 2 && c.maxWait == .milliseconds(500))
        #expect(c.key == .header("x-tenant") && c.maxKeys == 1000 && c.status == 503)
        #expect(c.filterEnabled == .always && c.filterEnforced == .always)
        guard case .bulkhead(let plain)? = Self.decoded(Self.bulkhead("stat_prefix: api, max_concurrent_requests: 1, key: {remote_address: true}, status: {code: 429}")) else {
            Issue.record("not decoded as a bulkhead")
            return
        }
        #expect(plain.key == .remoteAddress && plain.status == 429 && plain.maxQueue == 0)
    }

    @Test("bulkhead errors: a queue without max_wait, max_wait without a queue, max_keys without key, a key turned off, no limit, a typo")
    func bulkheadErrors() {
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a, max_concurrent_requests: 1, max_queue: 3"), at: "max_queue",
                               path: "\(Self.filterPath).max_wait", message: "a queue needs max_wait")
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a, max_concurrent_requests: 1, max_wait: 1s"), at: "max_wait",
                               path: "\(Self.filterPath).max_wait", message: "max_wait has no effect without max_queue")
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a, max_concurrent_requests: 1, max_keys: 5"), at: "max_keys",
                               path: "\(Self.filterPath).max_keys", message: "max_keys has no effect without key")
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a, max_concurrent_requests: 1, key: {path: false}"), at: "false",
                               path: "\(Self.filterPath).key.path", message: "selects no key")
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a, max_concurrent_requests: 0"), at: "0}", after: "max_concurrent_requests",
                               path: "\(Self.filterPath).max_concurrent_requests", message: "out of range")
        Fixture.expectOneError(Self.bulkhead("stat_prefix: a"), at: "{\"@type\": type.googleapis.com/ferry",
                               path: "\(Self.filterPath).max_concurrent_requests", message: "required field is missing")
        // The missing limit is reported too; the typo gets its own located error with a fix.
        let typo = Fixture.expectError(Self.bulkhead("stat_prefix: a, max_concurrent_request: 3"), at: "max_concurrent_request",
                                          path: "\(Self.filterPath).max_concurrent_request", message: "unknown field")
        #expect(typo?.fix?.isEmpty == false)
    }

    @Test("idempotency defaults follow the draft: POST and PATCH, header idempotency-key, 24 h; fields decode")
    func idempotencyDefaults() {
        guard case .idempotency(let d)? = Self.decoded(Self.idempotency("stat_prefix: orders")) else {
            Issue.record("not decoded as idempotency")
            return
        }
        #expect(d.methods == ["POST", "PATCH"] && d.headerName == "idempotency-key" && d.ttl == .seconds(86_400))
        #expect(d.scopeHeader == nil && d.maxResponseBytes == 65_536 && d.maxRequestBytes == 1_048_576)
        let fields = "stat_prefix: o, header_name: X-Key, methods: [POST], scope_header: Authorization, ttl: 60s, in_flight_timeout: 5s, max_entries: 10, max_stored_bytes: 1000, max_response_bytes: 100, max_request_bytes: 50"
        guard case .idempotency(let c)? = Self.decoded(Self.idempotency(fields)) else {
            Issue.record("not decoded as idempotency")
            return
        }
        #expect(c.headerName == "x-key" && c.methods == ["POST"] && c.scopeHeader == "authorization")
        #expect(c.ttl == .seconds(60) && c.inFlightTimeout == .seconds(5) && c.maxEntries == 10)
        #expect(c.maxStoredBytes == 1000 && c.maxResponseBytes == 100 && c.maxRequestBytes == 50)
    }

    @Test("idempotency errors: lower-case or empty methods, a response limit over the store, a zero ttl, a missing stat_prefix")
    func idempotencyErrors() {
        Fixture.expectOneError(Self.idempotency("stat_prefix: o, methods: [post]"), at: "post",
                               path: "\(Self.filterPath).methods", message: "\"post\" is not an HTTP method token")
        Fixture.expectOneError(Self.idempotency("stat_prefix: o, methods: []"), at: "[]",
                               path: "\(Self.filterPath).methods", message: "methods is empty")
        Fixture.expectOneError(Self.idempotency("stat_prefix: o, max_stored_bytes: 10, max_response_bytes: 20"), at: "max_response_bytes",
                               path: "\(Self.filterPath).max_response_bytes", message: "exceeds max_stored_bytes")
        Fixture.expectOneError(Self.idempotency("stat_prefix: o, ttl: 0s"), at: "0s",
                               path: "\(Self.filterPath).ttl", message: "must be greater than 0s")
        Fixture.expectOneError(Self.idempotency("header_name: x"), at: "{\"@type\": type.googleapis.com/ferry",
                               path: "\(Self.filterPath).stat_prefix", message: "required field is missing")
    }
}
