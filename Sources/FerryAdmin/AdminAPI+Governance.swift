import FerryProxy
import Foundation
import FerryTelemetry
import NIOCore

/// `/governance` and `/governance/stream`: the live state of every governance rule (limiters,
/// breakers, bulkheads, …) with its counters, for operators and the console.
extension AdminAPI {
    /// One JSON document: `{"time": <unix ms>, "rules": [{"key": ..., "kind": ..., "state": {...}, "counters": {...}}]}`.
    func governanceJSON() async -> String {
        let rules = proxy.governance.snapshot()
        let view = await proxy.statsView()
        let now = NIODeadline.now()
        let items = rules.map { rule -> String in
            let counters = rule.state.statNames.map { "\(JSON.quote($0.label)):\(view.counter(named: $0.name) ?? 0)" }
            return "{\"key\":\(JSON.quote(rule.key)),\"kind\":\(JSON.quote(rule.state.kind)),\"state\":\(rule.state.json(now: now)),"
                + "\"counters\":{\(counters.joined(separator: ","))}}"
        }
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        return "{\"time\":\(millis),\"rules\":[\(items.joined(separator: ","))]}"
    }

    func governance() async -> AdminResponse { .json(await governanceJSON() + "\n") }

    /// Server-sent events: one `data:` line with the `/governance` document each `interval`
    /// (`?interval_ms=`, default 1000, at least 100), until the client goes away or, with
    /// `?count=N`, after N events.
    func governanceStream(_ r: AdminRequest) -> Result {
        let interval = max(Int64(r.query["interval_ms"] ?? "") ?? 1000, 100)
        let count = r.query["count"].flatMap { Int($0) }
        if let count, count < 1 { return .init(response: AdminResponse(.badRequest, "count must be at least 1\n")) }
        return .init(response: AdminResponse(contentType: "text/event-stream", ""),
                     events: EventStream(interval: .milliseconds(interval), count: count) { [self] in
                         "data: \(await governanceJSON())\n\n"
                     })
    }
}

/// A response that is a stream of server-sent events: `next` makes each event's text.
struct EventStream: Sendable {
    let interval: TimeAmount
    /// nil: until the client closes the connection.
    let count: Int?
    let next: @Sendable () async -> String
}
