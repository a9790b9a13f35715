import FerryConfig
import FerryPolicy
import FerryTelemetry
import NIOCore
import NIOPosix

/// One host's active health checks on the checker's loop: the interval and timeout timers, the
/// check connection (kept between checks with `reuse_connection`), and the host's
/// `HealthCheckStateMachine`, whose verdict it writes into the host's shared `HostHealth` flags.
/// Every callback carries the probe's number, so a late answer, connect or timeout of an
/// earlier probe (or of a stopped session) changes nothing.
final class HealthCheckSession {
    let host: UpstreamHost
    private let context: HealthChecker.Context
    private(set) var machine: HealthCheckStateMachine
    private var intervalTimer: Scheduled<Void>?
    private var timeoutTimer: Scheduled<Void>?
    private var channel: Channel?
    private var handler: (any HealthCheckProbe)?
    private var probeNumber = 0
    private var stopped = false
    /// Runs once, after the first result (cluster warming waits for it).
    var onFirstResult: (() -> Void)?

    /// Where checks go: the host, or its `health_check_config.port_value`.
    var checkAddress: NIOCore.SocketAddress {
        guard let port = host.healthCheckPort, let ip = host.address.ipAddress,
              let address = try? NIOCore.SocketAddress(ipAddress: ip, port: port) else { return host.address }
        return address
    }

    init(host: UpstreamHost, context: HealthChecker.Context, pending: Bool) {
        self.host = host
        self.context = context
        machine = HealthCheckStateMachine(configuration: context.machine, startsHealthy: false, pending: pending)
    }

    func start(after delay: Duration) {
        schedule(in: delay)
    }

    func stop() {
        stopped = true
        probeNumber += 1
        intervalTimer?.cancel()
        timeoutTimer?.cancel()
        closeConnection()
        onFirstResult?()
        onFirstResult = nil
    }

    private func schedule(in delay: Duration) {
        guard !stopped else { return }
        intervalTimer = context.loop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in check() }
    }

    private func check() {
        guard !stopped else { return }
        probeNumber += 1
        let number = probeNumber
        context.store.add(context.stats.attempt)
        timeoutTimer = context.loop.assumeIsolated().scheduleTask(in: TimeAmount(context.config.timeout)) { [self] in
            complete(HealthCheckHandler.Result(outcome: .timeout, reusable: false), number)
        }
        if let handler, handler.isActive {
            send(on: handler, number)
        } else {
            closeConnection()
            connect(number)
        }
    }

    private func connect(_ number: Int) {
        let mode = context.mode
        let tls = context.tls
        let timeout = TimeAmount(context.config.timeout)
        var connected = ClientBootstrap(group: context.loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandlers(to: channel, timeout: timeout, healthCheck: true)
                    if case .grpc(let settings) = mode {
                        try GRPCHealthCheckHandler.install(on: channel, settings: settings)
                    } else {
                        try channel.pipeline.syncOperations.addHandler(HealthCheckHandler(mode: mode))
                    }
                }
            }
            .connect(to: checkAddress)
        // A TLS check's connection is up once its handshake completed (a connect-only check passes then).
        if tls != nil { connected = connected.flatMap(CompiledUpstreamTLS.handshake(of:)) }
        connected.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let channel):
                guard number == probeNumber, !stopped, let handler = Self.probe(of: channel) else {
                    channel.close(promise: nil)
                    return
                }
                self.channel = channel
                self.handler = handler
                send(on: handler, number)
            case .failure:
                complete(HealthCheckHandler.Result(outcome: .networkFailure, reusable: false), number)
            }
        }
    }

    private static func probe(of channel: Channel) -> (any HealthCheckProbe)? {
        let operations = channel.pipeline.syncOperations
        return (try? operations.handler(type: HealthCheckHandler.self)) ?? (try? operations.handler(type: GRPCHealthCheckHandler.self))
    }

    private func send(on handler: any HealthCheckProbe, _ number: Int) {
        handler.probe(request: context.request) { [self] result in complete(result, number) }
    }

    private func closeConnection() {
        channel?.close(promise: nil)
        channel = nil
        handler = nil
    }

    private func complete(_ result: HealthCheckHandler.Result, _ number: Int) {
        guard number == probeNumber, !stopped else { return }
        probeNumber += 1
        timeoutTimer?.cancel()
        if !(result.reusable && context.config.reuseConnection) { closeConnection() }
        // Envoy: a failing answer marked x-envoy-immediate-health-check-fail takes the host out at once.
        let outcome: HealthCheckStateMachine.Outcome = result.immediateFail ? .activeFailure : result.outcome
        record(outcome)
    }

    private func record(_ outcome: HealthCheckStateMachine.Outcome) {
        let stats = context.stats
        switch outcome {
        case .success:
            context.store.add(stats.success)
            context.passed(host)
        case .networkFailure, .timeout:
            context.store.add(stats.failure)
            context.store.add(stats.networkFailure)
        case .activeFailure, .retriableFailure:
            context.store.add(stats.failure)
        }
        if machine.record(outcome) == .changed {
            writeFlags()
            context.healthChanged()
        }
        onFirstResult?()
        onFirstResult = nil
        schedule(in: machine.nextInterval(hadTraffic: context.resources.hadTraffic) { UInt64.random(in: 0...UInt64.max) })
    }

    /// The host answered real traffic with `x-envoy-immediate-health-check-fail`: unhealthy at once.
    func failImmediately() {
        guard !stopped else { return }
        if machine.record(.activeFailure) == .changed {
            writeFlags()
            context.healthChanged()
        }
    }

    /// Mirrors the machine into the flags every loop reads.
    func writeFlags() {
        if machine.isHealthy { host.health.clear(.failedActiveHealthCheck) } else { host.health.set(.failedActiveHealthCheck) }
        if machine.isPending { host.health.set(.pendingActiveHealthCheck) } else { host.health.clear(.pendingActiveHealthCheck) }
    }
}
