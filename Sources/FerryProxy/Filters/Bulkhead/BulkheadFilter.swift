import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore

/// `ferry.filters.http.bulkhead`: isolates a route (or a key) with a concurrency pool, so a
/// slow dependency cannot take every connection and loop time the others need. See
/// docs/governance.md for the fields and replies.
extension BulkheadRule: FilterRule {
    static let filterKind = "a bulkhead"
    static let typeURL = "ferry.filters.http.bulkhead.v1.Bulkhead"

    static func config(in kind: HttpFilter.Kind) -> BulkheadConfig? {
        if case .bulkhead(let config) = kind { return config }
        return nil
    }

    static let streamState: FilterStreamState.Claims.Kind? = .bulkhead

    func makeFilter(stateInStream: Bool) -> StreamFilter { BulkheadFilter(rule: self, stateInStream: stateInStream) }
}

/// One stream's place in a bulkhead: taken in `decodeHeaders` (at once, or after a wait in the
/// queue), given back in `onComplete` — also when the client resets — to the oldest waiter.
/// With `stateInStream`, one object serves every stream and keeps each stream's place in
/// `stream.filterState.bulkhead`; otherwise the object is the stream's own and keeps it here.
final class BulkheadFilter: StreamFilter {
    let rule: BulkheadRule
    /// This stream's place; nil when it is kept in the stream.
    private var own: BulkheadPlace?

    init(rule: BulkheadRule, stateInStream: Bool) {
        self.rule = rule
        own = stateInStream ? nil : .outside
    }

    var hooks: FilterHooks { [.decodeHeaders, .onComplete] }

    @inline(__always)
    private func place(_ stream: ActiveStream) -> BulkheadPlace { FilterStreamState.with(&own, in: stream, at: \.bulkhead) { $0 } }

    @inline(__always)
    private func setPlace(_ stream: ActiveStream, _ place: BulkheadPlace) {
        FilterStreamState.with(&own, in: stream, at: \.bulkhead) { $0 = place }
    }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        guard worker.featureEnabled(rule.config.filterEnabled) else { return .proceed }
        let enforce = worker.featureEnabled(rule.config.filterEnforced)
        let key = rule.key(for: stream)
        let entry = rule.enter(key: key, now: Self.now(worker), enforce: enforce) {
            BulkheadWaiter(filter: self, stream: stream)
        }
        let shard = worker.stats
        switch entry {
        case .admitted:
            setPlace(stream, .holding(key: key))
            shard.inc(rule.admitted)
            shard.add(rule.active, 1)
            return .proceed
        case .queued(let ticket):
            setPlace(stream, .waiting(key: key, ticket: ticket))
            shard.inc(rule.queued)
            shard.add(rule.queueDepth, 1)
            stream.wake(after: TimeAmount(rule.config.maxWait)) { [unowned self, unowned stream] in self.waitRanOut(stream) }
            return .stop
        case .rejected:
            guard enforce else {
                shard.inc(rule.shadowRejected)
                return .proceed
            }
            shard.inc(rule.rejected)
            refuse(stream, details: "bulkhead_full")
            return .stop
        }
    }

    /// A place was handed to `stream` (on its own loop).
    func admitFromQueue(_ stream: ActiveStream) {
        guard !stream.finished, case .waiting(let key, _) = place(stream) else { return }
        setPlace(stream, .holding(key: key))
        let shard = stream.worker.stats
        shard.add(rule.queueDepth, -1)
        shard.inc(rule.admitted)
        shard.add(rule.active, 1)
        stream.continueDecoding()
    }

    private func waitRanOut(_ stream: ActiveStream) {
        guard case .waiting(let key, let ticket) = place(stream) else { return }
        // Lost the race: a place was handed over and the wake-up is on its way.
        guard rule.cancel(key: key, ticket: ticket) else { return }
        setPlace(stream, .done)
        let shard = stream.worker.stats
        shard.add(rule.queueDepth, -1)
        shard.inc(rule.waitTimeout)
        refuse(stream, details: "bulkhead_wait_timeout")
    }

    func onComplete(_ stream: ActiveStream) {
        switch place(stream) {
        case .holding(let key):
            stream.worker.stats.add(rule.active, -1)
            passOn(key: key, stream.worker)
        case .waiting(let key, let ticket):
            stream.worker.stats.add(rule.queueDepth, -1)
            // Handed a place before the wake-up arrived: give it back at once.
            if !rule.cancel(key: key, ticket: ticket) { passOn(key: key, stream.worker) }
        case .outside, .done:
            return
        }
        setPlace(stream, .done)
    }

    /// Gives this stream's place back; the waiter that takes it resumes on its own loop.
    private func passOn(key: String, _ worker: Worker) {
        guard let next = rule.leave(key: key, now: Self.now(worker)) else { return }
        next.resume()
    }

    private func refuse(_ stream: ActiveStream, details: String) {
        stream.flags.insert(.upstreamOverflow)
        var headers = HeaderMap()
        headers.addLowercased("x-ferry-bulkhead", "full")
        stream.sendLocalReply(rule.config.status, body: "bulkhead full", details: details, extraHeaders: headers)
    }

    private static func now(_ worker: Worker) -> Duration { .nanoseconds(Int64(worker.now.uptimeNanoseconds)) }
}
