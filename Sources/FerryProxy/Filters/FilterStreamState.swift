import FerryPolicy
import NIOCore

/// What the circuit breaker, the bulkhead and adaptive concurrency keep for one stream, held in
/// the stream itself (`ActiveStream.filterState`), so that one filter object serves every stream
/// and a request allocates none for them. Each kind has one place here, which the first filter
/// of that kind in `http_filters` takes (`Claims`); a second filter of the same kind in the same
/// chain keeps its state in an object of its own per stream.
struct FilterStreamState {
    var breaker = CircuitBreakerCall()
    var bulkhead = BulkheadPlace.outside
    var concurrency = ConcurrencyAdmission()

    /// Runs `body` on a filter's state for one stream: `own` when the filter object is the
    /// stream's own (it is non-nil then), else the stream's place at `place`.
    @inline(__always)
    static func with<State, R>(_ own: inout State?, in stream: ActiveStream, at place: WritableKeyPath<FilterStreamState, State>,
                               _ body: (inout State) -> R) -> R {
        if own != nil { return body(&own!) }
        return body(&stream.filterState[keyPath: place])
    }

    /// The places of `FilterStreamState`, handed to the filters of one connection manager in
    /// config order: the first filter of a kind gets it.
    struct Claims {
        enum Kind { case breaker, bulkhead, concurrency }
        private var taken: [Kind] = []

        /// True when `kind`'s place was still free (the caller now holds it).
        mutating func claim(_ kind: Kind) -> Bool {
            if taken.contains(kind) { return false }
            taken.append(kind)
            return true
        }
    }
}

/// One stream's call through a circuit breaker.
struct CircuitBreakerCall {
    /// The breaker that admitted the call.
    var breaker: CircuitBreakerRule.Breaker?
    var permission: CircuitBreakerStateMachine.Permission?
    /// The status of the first response offered after the call was permitted, and when.
    var observed: (status: Int, at: NIODeadline)?
    /// The breaker refused the request (the fallback's `circuit-open`).
    var rejected = false
}

/// One stream's admission by adaptive concurrency.
struct ConcurrencyAdmission {
    /// When the request was admitted; nil when the filter let it pass without counting it.
    var admittedAt: NIODeadline?
}

/// One stream's place in a bulkhead.
enum BulkheadPlace {
    case outside
    case holding(key: String)
    case waiting(key: String, ticket: Bulkhead.Ticket)
    case done
}
