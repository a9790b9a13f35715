import Atomics

/// Open connections of one listener across all worker loops, for the
/// `envoy.resource_limits.listener.<name>.connection_limit` runtime key. Shared by the loops
/// (one atomic add per connection, not per request) and kept across reloads by listener name,
/// so a reload does not reset the count while old connections are still open.
final class ListenerConnections: Sendable {
    private let open = ManagedAtomic<Int>(0)

    /// Counts a new connection unless `limit` is reached; false means refuse it.
    func admit(limit: Int?) -> Bool {
        let now = open.wrappingIncrementThenLoad(ordering: .relaxed)
        if let limit, now > limit {
            open.wrappingDecrement(ordering: .relaxed)
            return false
        }
        return true
    }

    func release() { open.wrappingDecrement(ordering: .relaxed) }

    var count: Int { open.load(ordering: .relaxed) }
}
