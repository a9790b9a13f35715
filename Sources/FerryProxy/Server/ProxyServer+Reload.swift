import FerryConfig
import FerryTelemetry
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Configuration reloads (SIGHUP, admin `POST /reload`) and draining (SIGTERM,
/// `POST /drain_listeners`), all in one process.
///
/// A reload re-reads the same sources, validates and compiles the new generation off the
/// worker loops, then installs it on every worker. Requests in flight keep the generation they
/// started with; listeners whose socket settings did not change keep their sockets, so not one
/// connection is refused; removed listeners stop accepting and their connections drain; new
/// listeners bind. A reload that fails changes nothing and says why.
extension ProxyServer {
    public struct ReloadFailure: Error, CustomStringConvertible, Sendable {
        public var message: String
        public var description: String { message }
    }

    /// Reloads from the configured sources; returns the new generation's id.
    public func reload() async -> Result<Int, ReloadFailure> {
        await reloadGate.serialize {
            await self.reloadNow()
        }
    }

    private func reloadNow() async -> Result<Int, ReloadFailure> {
        let previous = generation
        var loaded: LoadedConfig
        switch ConfigLoader.load(path: options.configPath, configYAML: options.configYAML) {
        case .success(let config): loaded = config
        case .failure(let errors): return reloadFailed(errors.description)
        }
        options.adjustConfig?(&loaded)
        let next: ConfigGeneration
        switch GenerationCompiler.compile(loaded, id: previous.id + 1, store: store, previous: previous, governance: governance) {
        case .success(let g): next = g
        case .failure(let errors): return reloadFailed(errors.description)
        }
        // Listeners first: bind the new and moved ones while the old sockets still serve, so a
        // port in use fails the reload before anything has changed. Unchanged listeners keep
        // their sockets.
        let oldByName = Dictionary(previous.listeners.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newNames = Set(next.listeners.map(\.name))
        let (kept, toClose, toBind) = bound.withLockedValue { bound -> ([BoundListener], [BoundListener], [CompiledListener]) in
            var kept: [BoundListener] = []
            var toClose: [BoundListener] = []
            for b in bound {
                if newNames.contains(b.name), let old = oldByName[b.name], let new = next.listener(named: b.name),
                   Self.sameSocket(old.config, new.config) {
                    kept.append(b)
                } else {
                    toClose.append(b)
                }
            }
            let keptNames = Set(kept.map(\.name))
            return (kept, toClose, next.listeners.filter { !keptNames.contains($0.name) })
        }
        var newlyBound: [BoundListener] = []
        var bindErrors: [String] = []
        var rebindAfterClose: [CompiledListener] = []
        for listener in toBind {
            do {
                newlyBound.append(try await ListenerBinder.bind(listener, workers: workers, group: group, workersByLoop: workersByLoop))
            } catch {
                // The same address as the socket it replaces (other socket options changed):
                // it can only be bound once the old one is closed.
                if toClose.contains(where: { $0.name == listener.name && oldByName[$0.name]?.config.address == listener.config.address }) {
                    rebindAfterClose.append(listener)
                } else {
                    bindErrors.append("listener \"\(listener.name)\" cannot listen on \(listener.address): \(Self.describeBind(error))")
                }
            }
        }
        func undoBinds() async { for b in newlyBound { try? await b.close().get() } }
        if !bindErrors.isEmpty {
            await undoBinds()
            return reloadFailed(bindErrors.joined(separator: "; "))
        }
        do {
            try await clusterManager.apply(next.clusters).get()
        } catch {
            await undoBinds()
            return reloadFailed("cluster update failed: \(error)")
        }
        do {
            try await installOnWorkers(next)
        } catch {
            await undoBinds()
            return reloadFailed("installing the new configuration failed: \(error)")
        }
        bound.withLockedValue { $0 = kept + newlyBound }
        for b in newlyBound { logger.info("listener \(b.name) bound to \(UpstreamHost.format(b.address))") }
        for b in toClose {
            try? await b.close().get()
            await drainConnections(of: b.name)
        }
        var lateErrors: [String] = []
        for listener in rebindAfterClose {
            do {
                let b = try await ListenerBinder.bind(listener, workers: workers, group: group, workersByLoop: workersByLoop)
                bound.withLockedValue { $0.append(b) }
                logger.info("listener \(listener.name) bound to \(UpstreamHost.format(b.address))")
            } catch {
                lateErrors.append("listener \"\(listener.name)\" cannot listen on \(listener.address): \(Self.describeBind(error))")
            }
        }
        current.withLockedValue { $0 = next }
        governance.retain(next.governanceKeys)
        store.set(serverStats.configGeneration, Int64(next.id))
        if !lateErrors.isEmpty {
            // The new routes and clusters are live; report the listener that could not bind again.
            return reloadFailed("configuration \(next.id) is active, but: " + lateErrors.joined(separator: "; "))
        }
        lastReload.withLockedValue { $0 = (next.id, nil) }
        logger.info("configuration reloaded: generation \(next.id)")
        return .success(next.id)
    }

    private func reloadFailed(_ message: String) -> Result<Int, ReloadFailure> {
        store.add(serverStats.configReloadFailed)
        lastReload.withLockedValue { $0 = ($0.generation, message) }
        logger.error("configuration reload failed; keeping generation \(generation.id):\n\(message)")
        return .failure(ReloadFailure(message: message))
    }

    /// The last reload's outcome: (active generation, error of the last failed attempt or nil).
    public var lastReloadStatus: (generation: Int, error: String?) {
        lastReload.withLockedValue { ($0.generation, $0.error) }
    }

    static func sameSocket(_ a: Listener, _ b: Listener) -> Bool {
        a.address == b.address && a.enableReusePort == b.enableReusePort && a.backlog == b.backlog
            && a.perConnectionBufferLimitBytes == b.perConnectionBufferLimitBytes
    }

    /// Closes idle connections of `listener` (all listeners when nil) now; busy ones close after
    /// their current response.
    func drainConnections(of listener: String?) async {
        for w in workers {
            try? await w.eventLoop.submit {
                for (_, connection) in w.value.connections where listener == nil || connection.listenerName == listener {
                    connection.closeIfIdle()
                }
            }.get()
        }
    }

    /// Stops accepting on every listener and starts draining: `/ready` answers DRAINING, keep-alive
    /// connections get `Connection: close` on their next response, idle ones close now.
    /// `POST /drain_listeners` as Envoy 1.40: the listeners (only `traffic_direction: INBOUND`
    /// ones with `inboundOnly`) stop accepting and their connections close (idle ones now, busy
    /// ones after their response). With `graceful` they keep accepting for the drain time while
    /// responses ask more and more clients to close, and stop at its end. The server stays LIVE
    /// (`/ready` 200): draining listeners is not a health-check failure.
    public func drainListeners(inboundOnly: Bool = false, graceful: Bool = false) async {
        let selected = { (b: BoundListener) -> Bool in
            !inboundOnly || self.generation.listener(named: b.name)?.config.trafficDirection == .inbound
        }
        if graceful {
            let length = UInt64(max(options.drainTime.nanoseconds, 0))
            state.startGracefulDrain(atUptimeNanos: NIODeadline.now().uptimeNanoseconds, lengthNanos: length,
                                     inboundOnly: inboundOnly)
            Task {
                try? await Task.sleep(for: .nanoseconds(Int64(length)))
                await self.stopListeners(where: selected)
            }
            return
        }
        await stopListeners(where: selected)
    }

    /// Closes the matching listening sockets and drains their connections.
    private func stopListeners(where selected: @escaping (BoundListener) -> Bool) async {
        let stopped = bound.withLockedValue { bound -> [BoundListener] in
            let stopped = bound.filter(selected)
            bound.removeAll(where: selected)
            return stopped
        }
        for l in stopped {
            try? await l.close().get()
            await drainConnections(of: l.name)
        }
    }

    /// Drains, waits for open connections to finish (at most `options.drainTime`), then stops.
    /// `/ready` reports DRAINING from the first moment, so load balancers stop sending.
    public func drainAndShutdown() async {
        state.phase = .draining
        await stopListeners(where: { _ in true })
        let deadline = NIODeadline.now() + options.drainTime
        while await connectionCount() > 0, NIODeadline.now() < deadline {
            try? await Task.sleep(for: .milliseconds(50))
            await drainConnections(of: nil)
        }
        let left = await connectionCount()
        if left > 0 { logger.warning("drain time over; closing \(left) connection(s)") }
        await shutdown()
    }
}

/// Runs reloads one at a time. (An actor alone would not: it is re-entrant while awaiting.)
actor ReloadGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func serialize<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        let result = await body()
        if waiters.isEmpty {
            busy = false
        } else {
            waiters.removeFirst().resume()  // hand over without clearing `busy`
        }
        return result
    }
}
