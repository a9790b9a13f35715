import FerryConfig
import NIOCore
import NIOPosix

/// A listener's sockets: one per worker loop with SO_REUSEPORT (the kernel spreads accepted
/// connections; no cross-loop hand-off), or one socket feeding all loops when reuse is off.
final class BoundListener: Sendable {
    let name: String
    let channels: [Channel]
    let address: NIOCore.SocketAddress

    init(name: String, channels: [Channel], address: NIOCore.SocketAddress) {
        self.name = name
        self.channels = channels
        self.address = address
    }

    func close() -> EventLoopFuture<Void> {
        let loop = channels[0].eventLoop
        return EventLoopFuture.andAllComplete(channels.map { $0.close() }, on: loop)
    }
}

enum ListenerBinder {
    static func bind(_ listener: CompiledListener, workers: [NIOLoopBound<Worker>], group: EventLoopGroup,
                     workersByLoop: [ObjectIdentifier: NIOLoopBound<Worker>]) async throws -> BoundListener {
        let config = listener.config
        // SO_REUSEPORT whenever enable_reuse_port (Envoy's default), as Envoy sets it even with
        // one worker; one socket per worker only when there are several.
        let socketPerWorker = config.enableReusePort && workers.count > 1
        let name = listener.name
        var port = config.address.port
        var channels: [Channel] = []
        let limit = Int(config.perConnectionBufferLimitBytes)
        for bound in (socketPerWorker ? workers : [workers[0]]) {
            let loop = bound.eventLoop
            let bootstrap = ServerBootstrap(group: loop, childGroup: socketPerWorker ? loop : group)
                .serverChannelOption(.backlog, value: Int32(config.backlog ?? 1024))
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: config.enableReusePort ? 1 : 0)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.writeBufferWaterMark, value: .init(low: max(1, limit / 2), high: max(2, limit)))
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        guard let bound = workersByLoop[ObjectIdentifier(channel.eventLoop)] else {
                            throw ChannelError.ioOnClosedChannel
                        }
                        let worker = bound.value
                        guard let current = worker.generation.listener(named: name) else {
                            throw ChannelError.ioOnClosedChannel
                        }
                        // Over the listener's connection limit: close at once (Envoy's downstream_cx_overflow).
                        guard current.connections.admit(limit: current.connectionLimit) else {
                            worker.stats.inc(current.stats.cxOverflow)
                            throw ChannelError.ioOnClosedChannel
                        }
                        if let tls = current.tls {
                            try tls.startHandshake(on: channel, worker: worker, listener: current)
                        } else {
                            try channel.pipeline.syncOperations.addHandler(DownstreamHTTP1Handler(worker: worker, listener: current))
                        }
                    }
                }
            let channel = try await bootstrap.bind(host: config.address.address, port: port).get()
            if port == 0 { port = channel.localAddress?.port ?? 0 }
            channels.append(channel)
        }
        return BoundListener(name: name, channels: channels, address: channels[0].localAddress!)
    }
}
