import FerryConfig
import FerryTelemetry
import NIOCore
import NIOSSL
import NIOTLS

/// A listener's TLS termination, compiled once per configuration generation: the (reloadable)
/// server context, the client-certificate SAN matchers and the `listener.<name>.ssl.*` stats.
final class CompiledDownstreamTLS: Sendable {
    let context: ReloadableTLSContext
    let sanMatchers: [SubjectAltNameMatcher]
    let stats: TLSStats

    /// ALPN protocols Ferry's downstream codecs serve.
    static let servedProtocols: Set<String> = ["h2", "http/1.1", "http/1.0"]

    init(context: ReloadableTLSContext, sanMatchers: [SubjectAltNameMatcher], stats: TLSStats) {
        self.context = context
        self.sanMatchers = sanMatchers
        self.stats = stats
    }

    /// A filter chain's TLS, or nil for plaintext; problems (PEM, key, ALPN) go to `diagnostics`.
    static func compile(_ chain: FilterChain, listener: Listener, store: StatsStore, diagnostics: DiagnosticCollector) -> CompiledDownstreamTLS? {
        guard let tls = chain.transportSocket else { return nil }
        for name in tls.common.alpnProtocols where !servedProtocols.contains(name) {
            diagnostics.error(tls.common.location, "\(tls.common.path).alpn_protocols",
                              "ALPN protocol \"\(name)\" is not supported yet by Ferry (its downstream codecs are HTTP/2 and HTTP/1.1)",
                              fix: "use `alpn_protocols: [h2, http/1.1]`")
        }
        do {
            let context = try ReloadableTLSContext(owner: chain.name.isEmpty ? "listener \(listener.name)" : "listener \(listener.name) chain \(chain.name)", source: .server(tls))
            return CompiledDownstreamTLS(context: context, sanMatchers: tls.common.validation?.subjectAltNameMatchers ?? [],
                                         stats: TLSStats({ .listener(listener.statName, $0) }, store: store))
        } catch {
            diagnostics.error(error.location, error.path, error.message, fix: error.fix)
            return nil
        }
    }

    /// Starts TLS on an accepted connection: the chain's terminal filter is installed when the
    /// handshake completes.
    func startHandshake(on channel: Channel, chain: CompiledFilterChain, facts: ConnectionFacts, worker: Worker,
                        listener: CompiledListener) throws {
        let ssl: NIOSSLServerHandler
        if sanMatchers.isEmpty {
            ssl = NIOSSLServerHandler(context: context.context)
        } else {
            let matchers = sanMatchers
            ssl = NIOSSLServerHandler._makeSSLServerHandler(context: context.context) { certificate, channel in
                PeerCertificate(certificate).matches(matchers)
                    ? channel.eventLoop.makeSucceededVoidFuture()
                    : channel.eventLoop.makeFailedFuture(SubjectAltNameMismatch())
            }
        }
        let operations = channel.pipeline.syncOperations
        try operations.addHandler(ssl)
        try operations.addHandler(DownstreamTLSHandshakeHandler(worker: worker, listener: listener, chain: chain, facts: facts,
                                                                stats: stats))
    }
}

/// Waits for the TLS handshake of one downstream connection, counts it, and hands the
/// connection to its chain's terminal filter (then leaves the pipeline). A connection that fails or closes
/// before that gives its listener connection slot back here. With the chain's
/// `transport_socket_connect_timeout`, a handshake still unfinished at the deadline closes the
/// connection (`listener.<name>.downstream_cx_transport_socket_connect_timeout`), as in Envoy.
final class DownstreamTLSHandshakeHandler: ChannelInboundHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = NIOAny

    unowned(unsafe) let worker: Worker
    let listener: CompiledListener
    let chain: CompiledFilterChain
    let facts: ConnectionFacts
    let stats: TLSStats
    private var handedOver = false
    private var failureCounted = false
    private var context: ChannelHandlerContext?
    private var deadline: NIOScheduledCallback?

    init(worker: Worker, listener: CompiledListener, chain: CompiledFilterChain, facts: ConnectionFacts, stats: TLSStats) {
        self.worker = worker
        self.listener = listener
        self.chain = chain
        self.facts = facts
        self.stats = stats
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if let timeout = chain.config.transportSocketConnectTimeout {
            deadline = try? context.eventLoop.assumeIsolated().scheduleCallback(in: TimeAmount(timeout), handler: self)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        self.context = nil
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        deadline = nil
        guard !handedOver, let context else { return }
        worker.stats.inc(listener.stats.transportSocketConnectTimeout)
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard case .handshakeCompleted(let negotiated)? = event as? TLSUserEvent, !handedOver else {
            return context.fireUserInboundEventTriggered(event)
        }
        deadline?.cancel()
        deadline = nil
        worker.stats.inc(stats.handshake)
        let ssl = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self)
        let peer = ssl?.peerCertificate.map(PeerCertificate.init)
        if peer == nil { worker.stats.inc(stats.noCertificate) }
        let info = DownstreamTLSInfo(version: ssl?.tlsVersion, peer: peer, negotiatedProtocol: negotiated)
        handedOver = true
        do {
            try ConnectionSetup.installTerminal(chain, facts: facts, tls: info, on: context.channel, worker: worker, listener: listener)
        } catch {
            listener.connections.release()
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !handedOver && !failureCounted {
            failureCounted = true
            for counter in stats.failure(error) { worker.stats.inc(counter) }
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !handedOver {
            handedOver = true
            listener.connections.release()
        }
        context.fireChannelInactive()
    }
}
