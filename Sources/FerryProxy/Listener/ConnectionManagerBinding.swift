import FerryTelemetry

/// The listener and HTTP connection manager a downstream HTTP connection serves its next
/// request or stream with (both codecs keep one). Each request takes the generation current
/// when it arrives: the chain is looked up again only when a reload brought a new listener.
struct ConnectionManagerBinding {
    let listenerName: String
    private(set) var listener: CompiledListener
    private(set) var hcm: CompiledHCM
    private let chainKey: String

    init(listener: CompiledListener, chain: CompiledFilterChain, hcm: CompiledHCM) {
        listenerName = listener.name
        self.listener = listener
        self.hcm = hcm
        chainKey = chain.key
    }

    /// Moves to `worker`'s current generation. False when the listener or its filter chain is
    /// gone from it: the connection keeps what it had and should close (drain).
    mutating func refresh(on worker: Worker) -> Bool {
        guard let current = worker.generation.listener(named: listenerName),
              let next = current === listener ? hcm : current.chain(key: chainKey)?.hcm else { return false }
        listener = current
        hcm = next
        return true
    }

    /// Counts a connection of this codec opening (`http.*` and `listener.*` stats).
    func countOpened(_ shard: StatsShard, http2: Bool) {
        shard.inc(hcm.stats.cxTotal)
        shard.inc(http2 ? hcm.stats.cxHTTP2Total : hcm.stats.cxHTTP1Total)
        shard.add(hcm.stats.cxActive, 1)
        shard.add(http2 ? hcm.stats.cxHTTP2Active : hcm.stats.cxHTTP1Active, 1)
        shard.inc(listener.stats.cxTotal)
        shard.add(listener.stats.cxActive, 1)
    }

    /// Counts it closing; `local` when Ferry closed it.
    func countClosed(_ shard: StatsShard, http2: Bool, local: Bool) {
        shard.add(hcm.stats.cxActive, -1)
        shard.add(http2 ? hcm.stats.cxHTTP2Active : hcm.stats.cxHTTP1Active, -1)
        shard.inc(hcm.stats.cxDestroy)
        shard.inc(local ? hcm.stats.cxDestroyLocal : hcm.stats.cxDestroyRemote)
        shard.add(listener.stats.cxActive, -1)
        shard.inc(listener.stats.cxDestroy)
    }
}
