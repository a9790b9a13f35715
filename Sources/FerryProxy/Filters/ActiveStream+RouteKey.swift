/// How governance filters name the stream's route in their keys.
extension ActiveStream {
    /// `<virtual host>/<route name, or its index when unnamed>`, as in the `route:` scopes of
    /// `/governance` keys (compiled with the route table); nil without a route.
    var routeKey: String? { route?.key }

    /// The cluster the route sends to, as Envoy's `routeEntry()->clusterName()`: a
    /// `cluster_header` route's header value ("" when absent); a weighted route's pick, made now
    /// and kept for the router (Envoy picks when it matches the route). nil without a `route` action.
    func routeClusterName() -> String? {
        guard let action = route?.forwardAction else { return nil }
        switch action.target {
        case .cluster(let handle): return handle.name
        case .header(let name): return request.headers.first(name) ?? ""
        case .weighted(let pick, let targets):
            let target = weightedTarget ?? targets[pick.pick(using: &worker.random)]
            weightedTarget = target
            return target.cluster.name
        }
    }
}
