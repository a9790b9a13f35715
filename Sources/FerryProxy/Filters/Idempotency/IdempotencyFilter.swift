import FerryConfig
import FerryTelemetry
import NIOCore

/// `ferry.filters.http.idempotency`: runs a request carrying an `Idempotency-Key` once and
/// replays its response to duplicates. See docs/governance.md for fields and semantics.
extension IdempotencyRule: FilterRule {
    static let filterKind = "an idempotency"
    static let typeURL = "ferry.filters.http.idempotency.v1.Idempotency"

    static func config(in kind: HttpFilter.Kind) -> IdempotencyConfig? {
        if case .idempotency(let config) = kind { return config }
        return nil
    }

    func makeFilter(stateInStream _: Bool) -> StreamFilter { IdempotencyFilter(rule: self) }

    /// A request whose method the rule does not cover, or without a key, passes untouched.
    func skips(_ stream: ActiveStream) -> Bool {
        !config.methods.contains(stream.request.method) || !stream.request.headers.contains(config.headerName)
    }
}

/// One request's part: buffer the body (for the fingerprint), ask the store, then either run
/// the request as the key's owner — capturing its response to store it, or releasing the key
/// when the response is not kept — or answer 409 / 422 / the replay / 503.
final class IdempotencyFilter: StreamFilter {
    let rule: IdempotencyRule
    private var enforce = true
    /// This stream claimed the key (`proceed`): it must complete or abandon it.
    private var claim: (key: String, fingerprint: UInt64)?
    private var captured: IdempotentResponse?

    init(rule: IdempotencyRule) { self.rule = rule }

    var hooks: FilterHooks { [.decodeHeaders, .encodeHeaders, .responseBody, .onComplete] }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        let worker = stream.worker
        // The rule's `skips` left out requests of other methods and those without a key.
        guard worker.featureEnabled(rule.config.filterEnabled), let key = stream.request.headers.first(rule.config.headerName) else {
            return .proceed
        }
        enforce = worker.featureEnabled(rule.config.filterEnforced)
        guard !key.isEmpty, key.utf8.count <= 255 else {
            guard enforce else { return .proceed }
            stream.sendLocalReply(400, body: "invalid idempotency key", details: "idempotency_key_invalid")
            return .stop
        }
        let storeKey = rule.storeKey(key, stream: stream)
        guard !stream.requestEnded else { return decide(stream, key: storeKey) }
        stream.bufferRequestBody(limit: rule.config.maxRequestBytes) { [unowned self, unowned stream] in
            if self.decide(stream, key: storeKey) == .proceed { stream.continueDecoding() }
        }
        return .stop
    }

    /// Asks the store; the answer may come at once (returned) or later (`.stop` now, and the
    /// chain goes on or the stream is answered when it comes).
    private func decide(_ stream: ActiveStream, key: String) -> FilterStatus {
        let fingerprint = IdempotencyRule.fingerprint(stream)
        var synchronous = true
        var immediate: FilterStatus?
        let rule = rule
        let now = Duration.nanoseconds(Int64(stream.worker.now.uptimeNanoseconds))
        let worker = stream.worker
        rule.store.begin(key: key, fingerprint: fingerprint, now: now, worker: worker) { [weak self, weak stream] decision in
            guard let self, let stream, !stream.finished else {
                // The client left while the store decided: nobody will run the request.
                if case .proceed = decision { rule.store.abandon(key: key, fingerprint: fingerprint, worker: worker) }
                return
            }
            let status = self.apply(decision, stream, key: key, fingerprint: fingerprint)
            if synchronous {
                immediate = status
            } else if status == .proceed {
                stream.continueDecoding()
            }
        }
        synchronous = false
        return immediate ?? .stop
    }

    private func apply(_ decision: IdempotencyDecision, _ stream: ActiveStream, key: String, fingerprint: UInt64) -> FilterStatus {
        let shard = stream.worker.stats
        switch decision {
        case .proceed:
            claim = (key, fingerprint)
            shard.inc(rule.executed)
            return .proceed
        case .conflictInFlight:
            shard.inc(rule.conflict)
            guard enforce else { return .proceed }
            stream.sendLocalReply(409, body: "a request with this idempotency key is in progress", details: "idempotency_key_in_flight")
        case .mismatch:
            shard.inc(rule.mismatch)
            guard enforce else { return .proceed }
            stream.sendLocalReply(422, body: "idempotency key reused for a different request", details: "idempotency_key_mismatch")
        case .replay(let response):
            shard.inc(rule.replayed)
            guard enforce else { return .proceed }
            stream.sendReplay(response)
        case .tableFull:
            shard.inc(rule.tableFull)
            guard enforce else { return .proceed }
            stream.flags.insert(.upstreamOverflow)
            stream.sendLocalReply(503, body: "idempotency key table full", details: "idempotency_table_full")
        }
        return .stop
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard claim != nil, !stream.isLocalReply, IdempotencyRule.stores(status: head.status) else { return }
        var headers = head.headers
        headers.removeAll { IdempotencyRule.unreplayedHeaders.contains($0.name.lowercased()) }
        captured = IdempotentResponse(status: head.status, headers: headers, body: ByteBuffer())
    }

    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {
        guard captured != nil else { return }
        if captured!.body.readableBytes + data.readableBytes > rule.config.maxResponseBytes {
            captured = nil  // too large to keep: the key is released at the end
        } else {
            captured!.body.writeImmutableBuffer(data)
        }
    }

    func onComplete(_ stream: ActiveStream) {
        guard let (key, fingerprint) = claim else { return }
        claim = nil
        let shard = stream.worker.stats
        let notStored = rule.notStored
        guard let response = captured, stream.responseEnded, !stream.isLocalReply else {
            rule.store.abandon(key: key, fingerprint: fingerprint, worker: stream.worker)
            shard.inc(notStored)
            return
        }
        captured = nil
        let now = Duration.nanoseconds(Int64(stream.worker.now.uptimeNanoseconds))
        rule.store.complete(key: key, fingerprint: fingerprint, response: response, now: now, worker: stream.worker) { stored in
            if !stored { shard.inc(notStored) }
        }
    }
}
