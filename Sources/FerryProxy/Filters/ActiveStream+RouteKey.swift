/// How governance filters name the stream's route in their keys.
extension ActiveStream {
    /// `<virtual host>/<route name, or its index when unnamed>`, as in the `route:` scopes of
    /// `/governance` keys; nil without a route. Unnamed routes cost a scan of the virtual
    /// host's routes (identity comparisons only).
    var routeKey: String? {
        guard let route, let host = virtualHost else { return nil }
        if !route.name.isEmpty { return "\(host.name)/\(route.name)" }
        let index = host.routes.firstIndex { $0 === route } ?? -1
        return "\(host.name)/\(index)"
    }
}
