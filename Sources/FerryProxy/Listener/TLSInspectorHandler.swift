import NIOCore

/// `envoy.filters.listener.tls_inspector`: holds the first bytes of a connection until
/// `ClientHelloParser` can tell whether they are a TLS ClientHello (and its SNI and ALPN),
/// then chooses the filter chain, installs its terminal filter and hands it every byte held,
/// untouched (Envoy peeks at the socket; here the bytes are kept and passed on, which the
/// next handler cannot tell apart). At most `ClientHelloParser.maxBytes` are held.
///
/// Waiting is bounded by `listener_filters_timeout`: at the deadline the connection closes
/// (`downstream_pre_cx_timeout`), or with `continue_on_listener_filters_timeout` goes on as
/// plaintext.
final class TLSInspectorHandler: ChannelInboundHandler, RemovableChannelHandler, NIOScheduledCallbackHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    unowned(unsafe) let worker: Worker
    let listener: CompiledListener
    private var held: ByteBuffer?
    private var timer: NIOScheduledCallback?
    /// Set once the connection left the inspector (handed over or closed).
    private var done = false

    init(worker: Worker, listener: CompiledListener) {
        self.worker = worker
        self.listener = listener
    }

    private var stats: TLSInspectorStats { listener.tlsInspectorStats }

    func handlerAdded(context: ChannelHandlerContext) {
        contextForTimer = context
        if let timeout = listener.filtersTimeout {
            timer = try? context.eventLoop.assumeIsolated().scheduleCallback(in: timeout, handler: self)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return context.fireChannelRead(data) }
        var bytes = unwrapInboundIn(data)
        if held == nil { held = bytes } else { held!.writeBuffer(&bytes) }
        switch ClientHelloParser.parse(held!) {
        case .needMoreBytes:
            return
        case .notTLS:
            worker.stats.inc(stats.tlsNotFound)
            handOver(context, hello: nil)
        case .clientHello(let hello):
            worker.stats.inc(stats.tlsFound)
            worker.stats.inc(hello.serverName == nil ? stats.sniNotFound : stats.sniFound)
            worker.stats.inc(hello.applicationProtocols.isEmpty ? stats.alpnNotFound : stats.alpnFound)
            handOver(context, hello: hello)
        case .tooLarge:
            worker.stats.inc(stats.clientHelloTooLarge)
            finish(context)
            listener.connections.release()
            context.close(promise: nil)
        }
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        guard !done, let context = contextForTimer else { return }
        worker.stats.inc(listener.stats.preCxTimeout)
        if listener.config.continueOnListenerFiltersTimeout {
            handOver(context, hello: nil)
        } else {
            finish(context)
            listener.connections.release()
            context.close(promise: nil)
        }
    }

    /// The context, kept only while the inspector waits (for the timer's callback).
    private var contextForTimer: ChannelHandlerContext?

    func handlerRemoved(context: ChannelHandlerContext) {
        contextForTimer = nil
        timer?.cancel()
        timer = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            // The client went away before the inspector could decide.
            worker.stats.inc(listener.stats.listenerFilterRemoteClose)
            finish(context)
            listener.connections.release()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !done else { return context.fireErrorCaught(error) }
        context.close(promise: nil)
    }

    /// Leaves the waiting state: no timer, not in listener filters any more.
    private func finish(_ context: ChannelHandlerContext) {
        done = true
        timer?.cancel()
        timer = nil
        contextForTimer = nil
        worker.stats.add(listener.stats.preCxActive, -1)
    }

    /// Chooses the chain from what was found, installs it after this handler, gives it the
    /// held bytes and leaves the pipeline.
    private func handOver(_ context: ChannelHandlerContext, hello: ClientHello?) {
        finish(context)
        var facts = ConnectionFacts(local: context.channel.localAddress, remote: context.channel.remoteAddress)
        if let hello { facts.apply(hello) }
        guard let chain = ConnectionSetup.chooseChain(facts, worker: worker, listener: listener) else {
            context.close(promise: nil)
            return
        }
        do {
            try ConnectionSetup.install(chain, facts: facts, on: context.channel, worker: worker, listener: listener)
        } catch {
            listener.connections.release()
            context.close(promise: nil)
            return
        }
        if let bytes = held, bytes.readableBytes > 0 {
            held = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
