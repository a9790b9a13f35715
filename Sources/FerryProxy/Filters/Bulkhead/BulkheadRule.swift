import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOConcurrencyHelpers
import NIOCore

/// A queued stream's way back in: the stream and its bulkhead filter, which only the stream's
/// own loop may touch. The stream is held weakly: a stream that is gone has nothing to resume.
/// A class, so that a pool's `leave` passes one reference (an optional of a generic struct
/// went through value witnesses on every request, queue or not).
final class BulkheadWaiter: Sendable {
    private struct Parked {
        let filter: BulkheadFilter
        weak var stream: ActiveStream?
    }

    private let parked: NIOLoopBound<Parked>

    /// On the stream's loop.
    init(filter: BulkheadFilter, stream: ActiveStream) {
        parked = NIOLoopBound(Parked(filter: filter, stream: stream), eventLoop: stream.worker.loop)
    }

    /// Hands the freed place to the stream, on its loop.
    func resume() {
        parked.eventLoop.execute { [parked] in
            guard let stream = parked.value.stream else { return }
            parked.value.filter.admitFromQueue(stream)
        }
    }
}

/// One compiled `Bulkhead` (the listener's, or a route's): its pools, shared by every worker
/// loop behind one lock (each call is a few dictionary and queue operations), and its stats
/// `<stat_prefix>.bulkhead.*`. With a `key`, a pool exists while it has a request inside or
/// waiting; an idle pool is dropped, so `max_keys` bounds the busy keys, and a pool that comes
/// back starts empty, exactly as the dropped one was.
final class BulkheadRule: GovernanceState {
    enum Entry {
        case admitted
        case queued(Bulkhead.Ticket)
        case rejected
    }

    private struct Pool {
        var bulkhead: Bulkhead
        /// Queued streams by ticket number.
        var waiters: [UInt64: BulkheadWaiter] = [:]
        var isIdle: Bool { bulkhead.occupancy == 0 && bulkhead.queueDepth == 0 }
    }

    let config: BulkheadConfig
    private let limits: Bulkhead.Configuration
    /// An unkeyed rule's one pool sits in `single` (no hashing per request); a keyed rule's
    /// busy pools are in `byKey`.
    private struct Pools {
        var single: Pool
        var byKey: [String: Pool] = [:]
    }
    private let pools: NIOLockedValueBox<Pools>
    private let keyed: Bool
    let admitted, queued, rejected, waitTimeout, shadowRejected: CounterID
    /// Summed over the loops: each loop adds what its own streams take and give back.
    let active, queueDepth: GaugeID
    var kind: String { "bulkhead" }
    var statNames: [(label: String, name: String)] {
        ["admitted", "queued", "rejected", "wait_timeout", "shadow_rejected"].map { ($0, "\(config.statPrefix).bulkhead.\($0)") }
    }

    init(config: BulkheadConfig, store: StatsStore) {
        self.config = config
        limits = Bulkhead.Configuration(maxConcurrent: config.maxConcurrentRequests, maxQueue: config.maxQueue,
                                        maxWait: config.maxQueue > 0 ? config.maxWait : .zero)
        pools = NIOLockedValueBox(Pools(single: Pool(bulkhead: Bulkhead(configuration: limits))))
        keyed = config.key != nil
        func c(_ name: String) -> CounterID { store.counter(.plain("\(config.statPrefix).bulkhead.\(name)")) }
        admitted = c("admitted")
        queued = c("queued")
        rejected = c("rejected")
        waitTimeout = c("wait_timeout")
        shadowRejected = c("shadow_rejected")
        active = store.gauge(.plain("\(config.statPrefix).bulkhead.active"))
        queueDepth = store.gauge(.plain("\(config.statPrefix).bulkhead.queue_depth"))
    }

    /// The pool a stream belongs to: "" for the rule's single pool, and for a keyed rule
    /// whose request lacks the key (those requests share one pool).
    func key(for stream: ActiveStream) -> String {
        switch config.key {
        case nil: ""
        case .header(let name)?: stream.request.headers.first(name) ?? ""
        case .remoteAddress?: stream.downstreamRemoteIP ?? ""
        case .path?: String(stream.request.pathWithoutQuery)
        }
    }

    /// A request arrives. `enforce` false (shadow mode): never queued; a full pool says
    /// `rejected` and the caller lets the request through without a place.
    func enter(key: String, now: Duration, enforce: Bool, waiter: () -> BulkheadWaiter) -> Entry {
        pools.withLockedValue { pools in
            if !keyed { return Self.enter(&pools.single, limits: limits, now: now, enforce: enforce, waiter: waiter) }
            // Pools are changed in place through their index: one hash lookup per call.
            let index: [String: Pool].Index
            if let found = pools.byKey.index(forKey: key) {
                index = found
            } else {
                // Only busy pools are kept, so this bounds the keys in use.
                if pools.byKey.count >= config.maxKeys { return .rejected }
                pools.byKey[key] = Pool(bulkhead: Bulkhead(configuration: limits))
                index = pools.byKey.index(forKey: key)!
            }
            return Self.enter(&pools.byKey.values[index], limits: limits, now: now, enforce: enforce, waiter: waiter)
        }
    }

    private static func enter(_ pool: inout Pool, limits: Bulkhead.Configuration, now: Duration, enforce: Bool,
                              waiter: () -> BulkheadWaiter) -> Entry {
        if !enforce, pool.bulkhead.occupancy >= limits.maxConcurrent { return .rejected }
        switch pool.bulkhead.tryEnter(now: now) {
        case .admitted:
            return .admitted
        case .queued(let ticket):
            pool.waiters[ticket.number] = waiter()
            return .queued(ticket)
        case .rejected:
            return .rejected
        }
    }

    /// A request inside is done; returns the waiter its place goes to (the oldest whose wait
    /// has not run out), which the caller must wake on its own loop.
    func leave(key: String, now: Duration) -> BulkheadWaiter? {
        pools.withLockedValue { pools in
            if !keyed { return Self.leave(&pools.single, now: now) }
            guard let index = pools.byKey.index(forKey: key) else { return nil }
            let next = Self.leave(&pools.byKey.values[index], now: now)
            // A keyed rule forgets an idle pool, so `max_keys` bounds the busy keys.
            if pools.byKey.values[index].isIdle { pools.byKey.remove(at: index) }
            return next
        }
    }

    private static func leave(_ pool: inout Pool, now: Duration) -> BulkheadWaiter? {
        var next: BulkheadWaiter?
        // A ticket without a waiter cannot happen; should it, its place is passed on.
        while next == nil, let ticket = pool.bulkhead.leave(now: now) {
            next = pool.waiters.removeValue(forKey: ticket.number)
        }
        return next
    }

    /// A waiter gives up (its wait ran out, or its client left); false when it was already
    /// given a place (the caller then owns that place).
    func cancel(key: String, ticket: Bulkhead.Ticket) -> Bool {
        pools.withLockedValue { pools in
            if !keyed { return Self.cancel(&pools.single, ticket) }
            guard let index = pools.byKey.index(forKey: key), Self.cancel(&pools.byKey.values[index], ticket) else { return false }
            if pools.byKey.values[index].isIdle { pools.byKey.remove(at: index) }
            return true
        }
    }

    private static func cancel(_ pool: inout Pool, _ ticket: Bulkhead.Ticket) -> Bool {
        guard pool.bulkhead.cancel(ticket) else { return false }
        pool.waiters[ticket.number] = nil
        return true
    }

    func json(now: NIODeadline) -> String {
        let (occupancy, waiting, keys) = pools.withLockedValue { pools in
            keyed ? pools.byKey.values.reduce((0, 0, pools.byKey.count)) { ($0.0 + $1.bulkhead.occupancy, $0.1 + $1.bulkhead.queueDepth, $0.2) }
                : (pools.single.bulkhead.occupancy, pools.single.bulkhead.queueDepth, 1)
        }
        var fields = ["\"kind\":\"bulkhead\"", "\"stat_prefix\":\(JSON.quote(config.statPrefix))",
                      "\"max_concurrent_requests\":\(config.maxConcurrentRequests)", "\"max_queue\":\(config.maxQueue)",
                      "\"max_wait_ms\":\(TimeAmount(config.maxWait).nanoseconds / 1_000_000)",
                      "\"occupancy\":\(occupancy)", "\"queue_depth\":\(waiting)"]
        if let key = config.key {
            fields.append("\"key\":\(JSON.quote(key.description))")
            fields.append("\"max_keys\":\(config.maxKeys)")
            fields.append("\"keys\":\(keys)")
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
