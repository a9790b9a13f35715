import FerryConfig
import FerryTelemetry
import NIOCore

/// `envoy.filters.http.grpc_stats`: counts gRPC calls on their cluster, as Envoy 1.40 does —
/// `cluster.<name>.grpc.[<service>.<method>.]<grpc-status>`, `success` / `failure` / `total`
/// for each `grpc-status` seen (response head of a trailers-only answer, or trailers), and
/// `request_message_count` / `response_message_count` from the length-prefixed frames of the
/// bodies (counted as each frame starts, chunks split anywhere). With `enable_upstream_stats`,
/// `upstream_rq_time` from the request's last byte sent upstream to the response's end.
final class GRPCStatsFilterFactory: StreamFilterFactory {
    let name: String
    let disabledByDefault: Bool
    let config: GRPCStatsConfig

    init(name: String, disabledByDefault: Bool, config: GRPCStatsConfig) {
        self.name = name
        self.disabledByDefault = disabledByDefault
        self.config = config
    }

    func makeFilter(routeConfig: (any Sendable)?, for stream: ActiveStream) -> StreamFilter? { GRPCStatsFilter(config: config) }
}

final class GRPCStatsFilter: StreamFilter {
    let config: GRPCStatsConfig
    /// Set for a gRPC request whose path names a service and method (else nothing is counted).
    private var stats: GRPCCallStats?
    private var grpcResponse = false
    private var requestFrames = GRPCFrameCounter()
    private var responseFrames = GRPCFrameCounter()
    private var requestMessages: CounterID?
    private var responseMessages: CounterID?

    init(config: GRPCStatsConfig) { self.config = config }

    func decodeHeaders(_ stream: ActiveStream, endStream: Bool) -> FilterStatus {
        guard GRPCProtocol.isGRPC(contentType: stream.request.headers.first("content-type")),
              let (service, method) = GRPCProtocol.serviceAndMethod(path: stream.request.path) else { return .proceed }
        let named: Bool
        switch config.methods {
        case .all: named = true
        case .allowlist(let list): named = list[String(service)]?.contains(String(method)) ?? false
        }
        let serviceName = config.replaceDotsInServiceName ? Substring(service.replacing(".", with: "_")) : service
        stats = GRPCCallStats(protocolName: "grpc", service: named ? serviceName : nil, method: named ? method : nil)
        if !endStream { stream.transformRequestBody(by: self) }
        return .proceed
    }

    func decodeData(_ stream: ActiveStream, _ data: inout ByteBuffer, endStream: Bool) {
        guard let stats else { return }
        let started = requestFrames.scan(data)
        guard started > 0 else { return }
        if requestMessages == nil { requestMessages = stats.counter("request_message_count", on: stream) }
        if let id = requestMessages { stream.shard.inc(id, by: started) }
    }

    func encodeHeaders(_ stream: ActiveStream, _ head: inout ResponseHead) {
        guard let stats else { return }
        grpcResponse = GRPCProtocol.isGRPCResponse(head, endStream: head.headers.first("content-length") == "0")
        if let status = head.headers.first("grpc-status") { stats.charge(status: status, on: stream) }
    }

    func encodeData(_ stream: ActiveStream, _ data: inout ByteBuffer) {
        guard let stats, grpcResponse else { return }
        let started = responseFrames.scan(data)
        guard started > 0 else { return }
        if responseMessages == nil { responseMessages = stats.counter("response_message_count", on: stream) }
        if let id = responseMessages { stream.shard.inc(id, by: started) }
    }

    func encodeTrailers(_ stream: ActiveStream, _ trailers: inout HeaderMap?) -> ByteBuffer? {
        guard let stats else { return nil }
        if let status = trailers?.first("grpc-status") { stats.charge(status: status, on: stream) }
        if config.enableUpstreamStats, !stream.isLocalReply, let sent = stream.lastUpstreamTxAt {
            stats.recordUpstreamTime(milliseconds: Double((stream.worker.now - sent).nanoseconds / 1_000_000), on: stream)
        }
        return nil
    }
}
