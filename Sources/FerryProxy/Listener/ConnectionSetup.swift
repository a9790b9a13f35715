import NIOCore

/// From an accepted socket to the handler that serves it: the listener filters run (the TLS
/// inspector, when configured), the filter chain is chosen from what they found, and the
/// chain's terminal filter takes the channel. Without listener filters the chain is chosen
/// in the accept itself, so an HTTP connection gets its codec with no extra handler or hop.
enum ConnectionSetup {
    /// Runs in the child channel initializer, on the connection's loop. Throws to close it.
    static func accept(_ channel: Channel, worker: Worker, listener: CompiledListener) throws {
        if listener.inspectsTLS {
            worker.stats.add(listener.stats.preCxActive, 1)
            try channel.pipeline.syncOperations.addHandler(TLSInspectorHandler(worker: worker, listener: listener))
            return
        }
        // One catch-all chain (the usual HTTP listener) needs no addresses to be chosen.
        let facts = listener.selector.onlyCatchAll ? ConnectionFacts(destinationIP: nil, destinationPort: 0, sourceIP: nil, sourcePort: 0)
            : ConnectionFacts(local: channel.localAddress, remote: channel.remoteAddress)
        guard let chain = chooseChain(facts, worker: worker, listener: listener) else { throw ChannelError.ioOnClosedChannel }
        try install(chain, facts: facts, on: channel, worker: worker, listener: listener)
    }

    /// The chain for `facts`; nil counts `no_filter_chain_match` and gives back the
    /// connection's place under the listener's connection limit (the caller closes it).
    static func chooseChain(_ facts: ConnectionFacts, worker: Worker, listener: CompiledListener) -> CompiledFilterChain? {
        if let chain = listener.chain(for: facts) { return chain }
        worker.stats.inc(listener.stats.noFilterChainMatch)
        listener.connections.release()
        return nil
    }

    /// Adds the chain's transport socket (TLS termination: the terminal filter follows the
    /// handshake) or its terminal filter at the end of the pipeline.
    static func install(_ chain: CompiledFilterChain, facts: ConnectionFacts, on channel: Channel, worker: Worker,
                        listener: CompiledListener) throws {
        if let tls = chain.tls {
            return try tls.startHandshake(on: channel, chain: chain, facts: facts, worker: worker, listener: listener)
        }
        try installTerminal(chain, facts: facts, tls: nil, on: channel, worker: worker, listener: listener)
    }

    /// Adds the chain's terminal filter (after the TLS handshake on a TLS chain).
    static func installTerminal(_ chain: CompiledFilterChain, facts: ConnectionFacts, tls: DownstreamTLSInfo?, on channel: Channel,
                                worker: Worker, listener: CompiledListener) throws {
        switch chain.terminal {
        case .httpConnectionManager(let hcm):
            try installHTTPConnectionManager(hcm, chain: chain, tls: tls, on: channel, worker: worker, listener: listener)
        case .tcpProxy(let proxy):
            // tcp_proxy passes half-closes on (Envoy enables half-close for it); HTTP does not.
            try channel.syncOptions?.setOption(.allowRemoteHalfClosure, value: true)
            try channel.pipeline.syncOperations.addHandler(
                TCPProxyHandler(worker: worker, listener: listener, proxy: proxy, serverName: facts.serverName))
        }
    }

    /// The HTTP connection manager's codec for this chain, by `codec_type`: HTTP1 or HTTP2 as
    /// said; AUTO takes ALPN's choice over TLS and tells an h2c preface from HTTP/1 on plaintext.
    static func installHTTPConnectionManager(_ hcm: CompiledHCM, chain: CompiledFilterChain, tls: DownstreamTLSInfo?, on channel: Channel,
                                             worker: Worker, listener: CompiledListener) throws {
        func install(http2: Bool) throws {
            if http2 {
                try HTTP2Setup.install(on: channel, worker: worker, listener: listener, chain: chain, hcm: hcm, tls: tls)
            } else {
                try channel.pipeline.syncOperations.addHandler(
                    DownstreamHTTP1Handler(worker: worker, listener: listener, chain: chain, hcm: hcm, tls: tls))
            }
        }
        switch hcm.config.codecType {
        case .http2:
            try install(http2: true)
        case .auto:
            if let tls {
                try install(http2: tls.negotiatedProtocol == "h2")
            } else {
                try channel.pipeline.syncOperations.addHandler(HTTPCodecSniffer(install: install(http2:)))
            }
        case .http1, .http3:
            try install(http2: false)
        }
    }
}
