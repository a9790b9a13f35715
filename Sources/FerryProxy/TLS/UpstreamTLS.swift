import FerryConfig
import FerryTelemetry
import NIOCore
import NIOSSL
import NIOTLS

/// A cluster's TLS origination, compiled once per configuration generation: the (reloadable)
/// client context, `sni`, the server-certificate SAN matchers and `cluster.<name>.ssl.*`.
/// Pool connections and health checks both go through `addHandlers` and `handshake`, so a
/// connection counts as connected only once its handshake completed (Envoy's rule: the
/// handshake is part of connect, within `connect_timeout`).
final class CompiledUpstreamTLS: Sendable {
    let context: ReloadableTLSContext
    /// `auto_config` clusters: the same TLS offering only `http/1.1`, for HTTP/1 health checks
    /// (as Envoy overrides a health check's ALPN with its codec's protocol).
    let healthCheckContext: ReloadableTLSContext?
    let sni: String?
    let sanMatchers: [SubjectAltNameMatcher]
    let stats: TLSStats

    init(context: ReloadableTLSContext, healthCheckContext: ReloadableTLSContext? = nil, sni: String?,
         sanMatchers: [SubjectAltNameMatcher], stats: TLSStats) {
        self.context = context
        self.healthCheckContext = healthCheckContext
        self.sni = sni
        self.sanMatchers = sanMatchers
        self.stats = stats
    }

    /// The ALPN protocols that name Ferry's upstream codecs.
    static let codecProtocols: Set<String> = ["h2", "http/1.1"]

    static func compile(_ cluster: Cluster, store: StatsStore, diagnostics: DiagnosticCollector) -> CompiledUpstreamTLS? {
        guard var tls = cluster.upstreamTls else { return nil }
        let selection = cluster.upstreamProtocol.selection
        if selection == .auto {
            // ALPN picks the codec: only protocols Ferry speaks may be offered; Envoy's default is both.
            for name in tls.common.alpnProtocols where !codecProtocols.contains(name) {
                diagnostics.error(tls.common.location, "\(tls.common.path).alpn_protocols",
                                  "ALPN protocol \"\(name)\" is not one auto_config can speak",
                                  fix: "offer `h2` and/or `http/1.1`, or leave alpn_protocols out (both are offered)")
            }
            if tls.common.alpnProtocols.isEmpty { tls.common.alpnProtocols = ["h2", "http/1.1"] }
        } else if selection != .downstream {
            // The codec is chosen by the cluster, not by ALPN: the offered protocol must match it.
            let codec = selection == .http2 ? "h2" : "http/1.1"
            for name in tls.common.alpnProtocols where name != codec {
                diagnostics.error(tls.common.location, "\(tls.common.path).alpn_protocols",
                                  "ALPN protocol \"\(name)\" does not match the cluster's upstream codec (\(codec))",
                                  fix: "use `alpn_protocols: [\(codec)]` or leave it out")
            }
            // As Envoy, an HTTP/2 cluster without alpn_protocols offers h2.
            if tls.common.alpnProtocols.isEmpty, selection == .http2 { tls.common.alpnProtocols = ["h2"] }
        }
        do {
            let context = try ReloadableTLSContext(owner: "cluster \(cluster.name)", source: .client(tls))
            var healthCheckContext: ReloadableTLSContext?
            if selection == .auto, !cluster.activeHealthChecking.checks.isEmpty {
                var http1 = tls
                http1.common.alpnProtocols = ["http/1.1"]
                healthCheckContext = try ReloadableTLSContext(owner: "cluster \(cluster.name) (health checks)", source: .client(http1))
            }
            return CompiledUpstreamTLS(context: context, healthCheckContext: healthCheckContext, sni: tls.sni,
                                       sanMatchers: tls.common.validation?.subjectAltNameMatchers ?? [],
                                       stats: TLSStats({ .cluster(cluster.name, $0) }, store: store))
        } catch {
            diagnostics.error(error.location, error.path, error.message, fix: error.fix)
            return nil
        }
    }

    /// Puts TLS in front of a new upstream connection's handlers (call in its channel initializer).
    /// `healthCheck`: a health check's connection (HTTP/1 ALPN on `auto_config` clusters).
    func addHandlers(to channel: Channel, timeout: TimeAmount, healthCheck: Bool = false) throws {
        let ssl: NIOSSLClientHandler
        let context = (healthCheck ? healthCheckContext : nil) ?? self.context
        if sanMatchers.isEmpty {
            ssl = try NIOSSLClientHandler(context: context.context, serverHostname: sni)
        } else {
            let matchers = sanMatchers
            ssl = try NIOSSLClientHandler._makeSSLClientHandler(context: context.context, serverHostname: sni) { certificate, channel in
                PeerCertificate(certificate).matches(matchers)
                    ? channel.eventLoop.makeSucceededVoidFuture()
                    : channel.eventLoop.makeFailedFuture(SubjectAltNameMismatch())
            }
        }
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(ssl)
        try operations.addHandler(UpstreamTLSHandshakeHandler(timeout: timeout))
    }

    /// The connected channel once its handshake completed; fails with `UpstreamTLSFailure`, or
    /// `ChannelError.connectTimeout` when the handshake outlives `timeout` (the channel is closed).
    static func handshake(of channel: Channel) -> EventLoopFuture<Channel> {
        negotiation(of: channel).map(\.channel)
    }

    /// As `handshake(of:)`, with the protocol ALPN chose (nil when the server chose none).
    static func negotiation(of channel: Channel) -> EventLoopFuture<(channel: Channel, alpn: String?)> {
        guard let handler = try? channel.pipeline.syncOperations.handler(type: UpstreamTLSHandshakeHandler.self) else {
            return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
        }
        return handler.done.futureResult.map { (channel, $0) }.flatMapErrorThrowing { error in
            channel.close(promise: nil)
            if error is ChannelError, case ChannelError.connectTimeout = error as! ChannelError { throw error }
            throw UpstreamTLSFailure(underlying: error)
        }
    }
}

/// An upstream TLS handshake failed (a connect failure for the router, `UF`).
struct UpstreamTLSFailure: Error, CustomStringConvertible {
    let underlying: any Error
    /// Envoy's transport failure reason starts with "TLS_error"; Ferry names BoringSSL's reason.
    var description: String { "TLS_error: \(underlying)" }
}

/// Completes `done` when the upstream TLS handshake finishes (then leaves the pipeline), or
/// fails it on a TLS error, a close or the timeout.
final class UpstreamTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let timeout: TimeAmount
    private var timer: Scheduled<Void>?
    private var promise: EventLoopPromise<String?>?
    private var finished = false

    init(timeout: TimeAmount) { self.timeout = timeout }

    /// Succeeds with the protocol ALPN chose.
    var done: EventLoopPromise<String?> { promise! }

    func handlerAdded(context: ChannelHandlerContext) {
        promise = context.eventLoop.makePromise()
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let channel = context.channel
        timer = context.eventLoop.scheduleTask(in: timeout) {
            loopBound.value.finish(.failure(ChannelError.connectTimeout(loopBound.value.timeout)))
            channel.close(promise: nil)
        }
    }

    private func finish(_ result: Result<String?, any Error>) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        promise?.completeWith(result)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted(let negotiated)? = event as? TLSUserEvent {
            finish(.success(negotiated))
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard finished else { return finish(.failure(error)) }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.eof))
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(.failure(ChannelError.ioOnClosedChannel))
    }
}
