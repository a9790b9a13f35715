import FerryConfig
import FerryPolicy
import NIOCore
import Testing

@testable import FerryProxy

/// `RetryState` as a pure unit: which failures each `retry_on` condition retries, the request
/// header overrides, the full-jitter backoff (seeded random, no clock) and the retry buffer.
/// Envoy's semantics as in Envoy 1.40's RetryStateImpl; the conditions were also checked
/// against the real Envoy 1.40 (see Tests/IntegrationTests/RetryConditionTests.swift).
@Suite("Retry state")
struct RetryStateTests {
    /// The route's retry_policy decoded from YAML (`fields` are RetryPolicy fields).
    static func policy(_ fields: String) throws -> RetryPolicy {
        let yaml = """
            static_resources:
              listeners:
              - name: main
                address: {socket_address: {address: 127.0.0.1, port_value: 0}}
                filter_chains:
                - filters:
                  - name: envoy.filters.network.http_connection_manager
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                      stat_prefix: test
                      route_config:
                        virtual_hosts:
                        - name: all
                          domains: ["*"]
                          routes:
                          - match: {prefix: "/"}
                            route: {cluster: backend, retry_policy: {\(fields)}}
              clusters:
              - name: backend
                connect_timeout: 1s
                load_assignment:
                  cluster_name: backend
                  endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 1}}}}]}]
            """
        let loaded = try ConfigLoader.load(yaml: yaml).get()
        let route = loaded.bootstrap.listeners.first?.httpConnectionManager?.routeConfig.virtualHosts.first?.routes.first
        guard case .route(let action)? = route?.action, let policy = action.retryPolicy else {
            throw PolicyMissing()
        }
        return policy
    }

    struct PolicyMissing: Error {}

    static func state(_ fields: String, headers: HeaderMap = HeaderMap(), bodyLimit: Int = 1024) throws -> RetryState {
        RetryState(policy: try policy(fields), headers: headers, bodyLimit: bodyLimit)
    }

    static func response(_ status: Int, _ headers: HeaderMap = HeaderMap()) -> ResponseHead {
        ResponseHead(status: status, headers: headers)
    }

    /// The statuses in 100...599 a state retries.
    static func retriedStatuses(_ state: RetryState) -> [Int] {
        (100...599).filter { state.retries(response($0)) }
    }

    // MARK: conditions on responses

    @Test("5xx retries every 5xx response and nothing below 500")
    func fiveXX() throws {
        let state = try Self.state("retry_on: 5xx")
        #expect(Self.retriedStatuses(state) == Array(500...599))
    }

    @Test("gateway-error retries 502, 503 and 504 only")
    func gatewayError() throws {
        #expect(Self.retriedStatuses(try Self.state("retry_on: gateway-error")) == [502, 503, 504])
    }

    @Test("retriable-4xx retries 409 only")
    func retriable4xx() throws {
        #expect(Self.retriedStatuses(try Self.state("retry_on: retriable-4xx")) == [409])
    }

    @Test("retriable-status-codes retries the listed codes and those of x-envoy-retriable-status-codes")
    func retriableStatusCodes() throws {
        let state = try Self.state(
            "retry_on: retriable-status-codes, retriable_status_codes: [418, 500]",
            headers: ["x-envoy-retriable-status-codes": "429, 451"])
        #expect(Self.retriedStatuses(state) == [418, 429, 451, 500])
    }

    @Test("retriable_status_codes without the retriable-status-codes condition retry nothing")
    func codesNeedTheCondition() throws {
        #expect(Self.retriedStatuses(try Self.state("retry_on: connect-failure, retriable_status_codes: [418]")).isEmpty)
    }

    @Test("retriable-headers retries a response whose headers match retriable_headers, whatever its status")
    func retriableHeaders() throws {
        let state = try Self.state(
            "retry_on: retriable-headers, retriable_headers: [{name: x-retry-me, string_match: {exact: \"yes\"}}]")
        #expect(state.retries(Self.response(200, ["x-retry-me": "yes"])))
        #expect(state.retries(Self.response(500, ["X-Retry-Me": "yes"])))
        #expect(!state.retries(Self.response(500, ["x-retry-me": "no"])))
        #expect(!state.retries(Self.response(503)))
    }

    @Test("refused-stream is accepted and retries no HTTP/1 failure: not a 503, not a reset, not a connect failure")
    func refusedStream() throws {
        let state = try Self.state("retry_on: refused-stream")
        #expect(Self.retriedStatuses(state).isEmpty)
        #expect(!state.retries(.reset))
        #expect(!state.retries(.connectFailure))
        #expect(!state.retries(.perTryTimeout))
    }

    // Checked against Envoy 1.40: a 503 carrying x-envoy-ratelimited (from an upstream Envoy's
    // rate limiter) reached the client after one attempt with retry_on: 5xx.
    @Test(
        "a response with x-envoy-ratelimited is not retried unless retry_on has envoy-ratelimited")
    func rateLimitedResponse() throws {
        let limited = Self.response(503, ["x-envoy-ratelimited": "true"])
        #expect(!(try Self.state("retry_on: 5xx")).retries(limited))
        #expect(!(try Self.state("retry_on: gateway-error")).retries(limited))
        #expect((try Self.state("retry_on: envoy-ratelimited")).retries(limited))
    }

    @Test("envoy-ratelimited retries a response carrying x-envoy-ratelimited")
    func envoyRateLimited() throws {
        let state = try Self.state("retry_on: envoy-ratelimited")
        #expect(state.retries(Self.response(429, ["x-envoy-ratelimited": "true"])))
        #expect(!state.retries(Self.response(429)))
    }

    // MARK: conditions on failures without a response

    @Test("reset, 5xx and gateway-error retry resets, per-try timeouts and connect failures")
    func noResponseConditions() throws {
        for condition in ["reset", "5xx", "gateway-error"] {
            let state = try Self.state("retry_on: \(condition)")
            #expect(state.retries(.reset), "\(condition)")
            #expect(state.retries(.perTryTimeout), "\(condition)")
            #expect(state.retries(.connectFailure), "\(condition)")
            #expect(state.retries(.protocolError), "\(condition)")
        }
    }

    @Test("reset does not retry responses, not even a 503")
    func resetIgnoresResponses() throws {
        #expect(Self.retriedStatuses(try Self.state("retry_on: reset")).isEmpty)
    }

    @Test("connect-failure retries only connect failures")
    func connectFailure() throws {
        let state = try Self.state("retry_on: connect-failure")
        #expect(state.retries(.connectFailure))
        #expect(!state.retries(.reset))
        #expect(!state.retries(.perTryTimeout))
        #expect(Self.retriedStatuses(state).isEmpty)
    }

    @Test("retriable-4xx does not retry a reset or a per-try timeout")
    func retriable4xxIgnoresResets() throws {
        let state = try Self.state("retry_on: retriable-4xx")
        #expect(!state.retries(.reset))
        #expect(!state.retries(.perTryTimeout))
    }

    // MARK: counts and header overrides

    @Test("num_retries defaults to 1; per_try_timeout is unset by default")
    func defaults() throws {
        let state = try Self.state("retry_on: 5xx")
        #expect(state.retriesLeft == 1)
        #expect(state.perTryTimeout == nil)
    }

    @Test("x-envoy-retry-on adds its conditions to the route's")
    func retryOnHeaderAdds() throws {
        let state = try Self.state("retry_on: retriable-4xx", headers: ["x-envoy-retry-on": "gateway-error,reset"])
        #expect(Self.retriedStatuses(state) == [409, 502, 503, 504])
        #expect(state.retries(.reset))
    }

    @Test("x-envoy-max-retries replaces num_retries, 0 included; a non-number is ignored")
    func maxRetriesHeader() throws {
        #expect(try Self.state("retry_on: 5xx, num_retries: 2", headers: ["x-envoy-max-retries": "5"]).retriesLeft == 5)
        #expect(try Self.state("retry_on: 5xx, num_retries: 2", headers: ["x-envoy-max-retries": "0"]).retriesLeft == 0)
        #expect(try Self.state("retry_on: 5xx, num_retries: 2", headers: ["x-envoy-max-retries": "many"]).retriesLeft == 2)
    }

    @Test("x-envoy-upstream-rq-per-try-timeout-ms replaces per_try_timeout")
    func perTryHeader() throws {
        let plain = try Self.state("retry_on: 5xx, per_try_timeout: 2s")
        #expect(plain.perTryTimeout == .seconds(2))
        let overridden = try Self.state(
            "retry_on: 5xx, per_try_timeout: 2s", headers: ["x-envoy-upstream-rq-per-try-timeout-ms": "150"])
        #expect(overridden.perTryTimeout == .milliseconds(150))
    }

    @Test("the router consumes Envoy's retry and timeout request headers")
    func consumedHeaders() {
        for name in [
            "x-envoy-retry-on", "x-envoy-max-retries", "x-envoy-retriable-status-codes",
            "x-envoy-upstream-rq-timeout-ms", "x-envoy-upstream-rq-per-try-timeout-ms",
        ] {
            #expect(RetryState.consumedHeaders.contains(name), "\(name)")
        }
    }

    @Test("retry_on lists parse with spaces and report unknown names")
    func parseConditions() {
        let (conditions, unknown) = RetryPolicy.Conditions.parse(" 5xx , reset,,bogus ")
        #expect(conditions == [.fiveXX, .reset])
        #expect(unknown == ["bogus"])
    }

    // MARK: backoff

    @Test("retry_back_off defaults to 25 ms base and 10 x base max; max defaults to 10 x a given base")
    func backOffDefaults() throws {
        let defaults = try Self.policy("retry_on: 5xx")
        #expect(defaults.backOffBase == .milliseconds(25))
        #expect(defaults.backOffMax == .milliseconds(250))
        let based = try Self.policy("retry_on: 5xx, retry_back_off: {base_interval: 0.1s}")
        #expect(based.backOffBase == .milliseconds(100))
        #expect(based.backOffMax == .seconds(1))
        let capped = try Self.policy("retry_on: 5xx, retry_back_off: {base_interval: 0.1s, max_interval: 0.3s}")
        #expect(capped.backOffMax == .milliseconds(300))
    }

    /// Backoffs of the n-th retry (0-based) over many seeds.
    static func backoffs(_ state: RetryState, retry n: Int, seeds: Range<UInt64>) -> [TimeAmount] {
        seeds.map { seed in
            var random = FastRandom(seed: seed)
            state.retriesDone = n
            return state.backoff(random: &random)
        }
    }

    @Test("full jitter: the n-th backoff lies in [0, min(max, base x 2^n)) and spreads over that range")
    func fullJitterBounds() throws {
        let state = try Self.state("retry_on: 5xx, retry_back_off: {base_interval: 0.025s}")
        for (n, ceiling) in [(0, 25), (1, 50), (2, 100), (3, 200), (4, 250), (10, 250)] {
            let samples = Self.backoffs(state, retry: n, seeds: 1..<401)
            let limit = TimeAmount.milliseconds(Int64(ceiling))
            #expect(samples.allSatisfy { $0 >= .zero && $0 < limit }, "retry \(n)")
            // Loose: 400 uniform samples reach above half and below a quarter of the ceiling.
            #expect(samples.contains { $0.nanoseconds > limit.nanoseconds / 2 }, "retry \(n)")
            #expect(samples.contains { $0.nanoseconds < limit.nanoseconds / 4 }, "retry \(n)")
        }
    }

    @Test("the same seed gives the same backoff")
    func seededBackoffIsReproducible() throws {
        let state = try Self.state("retry_on: 5xx")
        #expect(Self.backoffs(state, retry: 2, seeds: 7..<8) == Self.backoffs(state, retry: 2, seeds: 7..<8))
    }

    // MARK: retry buffer

    @Test("body chunks are kept for replay while their total fits the limit, the limit itself included")
    func bufferKeepsWhatFits() throws {
        let state = try Self.state("retry_on: 5xx", bodyLimit: 10)
        state.keep(ByteBuffer(string: "hello"))
        state.keep(ByteBuffer(string: "world"))
        #expect(!state.bodyOverflowed)
        #expect(state.body.map { String(buffer: $0) } == ["hello", "world"])
    }

    @Test("past the limit the buffer is dropped for good and later chunks are not kept")
    func bufferOverflow() throws {
        let state = try Self.state("retry_on: 5xx", bodyLimit: 10)
        state.keep(ByteBuffer(string: "hello"))
        state.keep(ByteBuffer(string: "world!"))
        #expect(state.bodyOverflowed)
        #expect(state.body.isEmpty)
        state.keep(ByteBuffer(string: "x"))
        #expect(state.bodyOverflowed)
        #expect(state.body.isEmpty)
    }
}
