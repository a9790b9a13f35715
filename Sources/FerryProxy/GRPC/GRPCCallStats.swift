import FerryTelemetry

/// Envoy's `Grpc::Context` stats of one call on its cluster:
/// `cluster.<name>.<protocol>.[<service>.<method>.]<stat>`, where protocol is `grpc` (the
/// grpc_stats filter) or `grpc-web` (the grpc_web filter), and the service and method appear
/// only for calls the filter names (all, or those on its allowlist). Counters are looked up
/// once per call and stat, and registered on first use.
struct GRPCCallStats {
    /// `<protocol>.` or `<protocol>.<service>.<method>.`.
    let prefix: String

    init(protocolName: String, service: Substring?, method: Substring?) {
        if let service, let method {
            prefix = "\(protocolName).\(service).\(method)."
        } else {
            prefix = "\(protocolName)."
        }
    }

    func counter(_ stat: String, on stream: ActiveStream) -> CounterID? {
        guard let cluster = stream.cluster else { return nil }
        return stream.worker.counter(.cluster(cluster.definition.name, prefix + stat))
    }

    func add(_ stat: String, _ amount: UInt64, on stream: ActiveStream) {
        guard let id = counter(stat, on: stream) else { return }
        stream.shard.inc(id, by: amount)
    }

    /// `chargeStat` for a `grpc-status` value: `<status>`, then `success` (status 0) or
    /// `failure`, and `total`.
    func charge(status: String, on stream: ActiveStream) {
        add(status, 1, on: stream)
        add(status == "0" ? "success" : "failure", 1, on: stream)
        add("total", 1, on: stream)
    }

    func recordUpstreamTime(milliseconds: Double, on stream: ActiveStream) {
        guard let cluster = stream.cluster else { return }
        stream.shard.record(stream.worker.histogram(.cluster(cluster.definition.name, prefix + "upstream_rq_time")),
                            milliseconds: milliseconds)
    }
}
