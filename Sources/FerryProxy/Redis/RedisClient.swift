import NIOCore
import NIOPosix

/// A Redis client bound to one event loop (a proxy worker's): one pipelined connection to
/// `host:port`, commands answered in order through callbacks. Made for governance decisions on
/// the request path, so no locks, no async/await and no thread hops: one client per worker loop.
///
/// While no connection is ready (before the first connect completes, while reconnecting with
/// backoff after a loss, while `AUTH`/`SELECT` are under way), `send` fails at once with
/// `.notConnected`: a rate limit applies its `failure_mode_deny` immediately instead of waiting.
/// Every command has a timeout (`commandTimeout`, 100 ms unless `send` names another).
///
/// Invariants: every method is called on `eventLoop`; every callback runs exactly once, on
/// `eventLoop`, and possibly before `send` returns (fail-fast). `close()` ends the connection
/// and the reconnect loop; a client dropped without `close()` closes its connection in `deinit`.
///
/// ```swift
/// let client = RedisClient(configuration: .init(host: "127.0.0.1", port: 6379), eventLoop: loop)
/// client.start()
/// client.send(["INCR", "hits"]) { result in print(result) }  // .failure(.notConnected) until connected
/// ```
public final class RedisClient {
    public let configuration: Configuration
    public let eventLoop: any EventLoop

    private enum State {
        case idle
        case connecting
        case handshaking(RedisConnectionHandler)
        case ready(RedisConnectionHandler)
        case waitingToReconnect
        case closed
    }

    private var state = State.idle
    private var channel: Channel?
    private var reconnectTask: Scheduled<Void>?
    private var backoff: RedisReconnectBackoff
    /// Why the last connection attempt or connection ended, for logs ("connect ... failed: ...",
    /// "handshake failed: ...", "protocol error: ...").
    public private(set) var lastFailure: String?
    /// How many connections became ready so far (the first, then one per reconnect).
    public private(set) var connectionsReady = 0

    public init(configuration: Configuration, eventLoop: any EventLoop) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        backoff = RedisReconnectBackoff(base: configuration.reconnectBase, cap: configuration.reconnectCap)
    }

    deinit {
        reconnectTask?.cancel()
        channel?.close(promise: nil)
    }

    /// True while commands can be sent.
    public var isConnected: Bool {
        if case .ready = state { return true }
        return false
    }

    /// Commands sent and not yet answered (timed-out ones included until their late reply).
    public var pendingCount: Int { connection?.pendingCount ?? 0 }

    /// Starts connecting (and reconnecting whenever the connection is lost). Idempotent.
    public func start() {
        eventLoop.assertInEventLoop()
        guard case .idle = state else { return }
        connect()
    }

    /// Closes the connection and stops reconnecting; waiting commands fail with `.closed`.
    public func close() {
        eventLoop.assertInEventLoop()
        let connection = self.connection
        state = .closed
        reconnectTask?.cancel()
        reconnectTask = nil
        connection?.close(.closed)
        channel?.close(promise: nil)
        channel = nil
    }

    /// Sends one command (`["SET", "key", .bytes(value)]`). `callback` gets the reply, or
    /// `.server(message)` for an error reply, or why there is no reply; it runs on `eventLoop`.
    public func send(_ arguments: [RESPArgument], timeout: TimeAmount? = nil, _ callback: @escaping RedisCallback) {
        send(arguments, deadline: eventLoop.now + (timeout ?? configuration.commandTimeout), callback)
    }

    /// `send` with an absolute deadline (a retry inside one caller's time budget).
    func send(_ arguments: [RESPArgument], deadline: NIODeadline, _ callback: @escaping RedisCallback) {
        eventLoop.assertInEventLoop()
        switch state {
        case .ready(let connection): connection.send(.respCommand(arguments), deadline: deadline, callback)
        case .closed: callback(.failure(.closed))
        default: callback(.failure(.notConnected))
        }
    }

    private var connection: RedisConnectionHandler? {
        switch state {
        case .handshaking(let connection), .ready(let connection): return connection
        default: return nil
        }
    }

    // MARK: connecting

    private func connect() {
        state = .connecting
        let configuration = self.configuration
        ClientBootstrap(group: eventLoop)
            .connectTimeout(configuration.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = RedisConnectionHandler(
                        limits: configuration.parserLimits, maxPending: configuration.maxPendingCommands,
                        stallTimeout: configuration.stallTimeout)
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .connect(host: configuration.host, port: configuration.port)
            .assumeIsolated().whenComplete { [weak self] result in
                guard let self, case .connecting = self.state else {
                    if case .success(let channel) = result { channel.close(promise: nil) }
                    return
                }
                self.connected(result)
            }
    }

    private func connected(_ result: Result<Channel, any Error>) {
        switch result {
        case .failure(let error):
            lastFailure = "connect to \(configuration.host):\(configuration.port) failed: \(error)"
            scheduleReconnect()
        case .success(let channel):
            guard let connection = try? channel.pipeline.syncOperations.handler(type: RedisConnectionHandler.self),
                !connection.isClosed
            else {
                channel.close(promise: nil)
                lastFailure = "connection to \(configuration.host):\(configuration.port) closed while set up"
                return scheduleReconnect()
            }
            self.channel = channel
            connection.onClose = { [weak self, unowned connection] reason in self?.closed(connection, reason) }
            handshake(connection)
        }
    }

    /// `AUTH` and `SELECT`, pipelined; the connection is ready when both succeeded.
    private func handshake(_ connection: RedisConnectionHandler) {
        var commands: [[RESPArgument]] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(["AUTH", .string(username), .string(password)])
            } else {
                commands.append(["AUTH", .string(password)])
            }
        }
        if let database = configuration.database { commands.append(["SELECT", .integer(database)]) }
        guard !commands.isEmpty else { return becomeReady(connection) }
        state = .handshaking(connection)
        let deadline = eventLoop.now + configuration.connectTimeout
        var unanswered = commands.count
        for command in commands {
            connection.send(.respCommand(command), deadline: deadline) { [weak self] result in
                guard let self, case .handshaking(let current) = self.state, current === connection else { return }
                switch result {
                case .success:
                    unanswered -= 1
                    if unanswered == 0 { self.becomeReady(connection) }
                case .failure(let error):
                    connection.close(error)
                }
            }
        }
    }

    private func becomeReady(_ connection: RedisConnectionHandler) {
        state = .ready(connection)
        backoff.reset()
        connectionsReady += 1
    }

    private func closed(_ connection: RedisConnectionHandler, _ reason: RedisError) {
        guard connection === self.connection else { return }  // closed by `close()`, or stale
        if case .handshaking = state {
            lastFailure = "handshake with \(configuration.host):\(configuration.port) failed: \(reason)"
        } else {
            lastFailure = "connection to \(configuration.host):\(configuration.port) lost: \(reason)"
        }
        channel = nil
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        state = .waitingToReconnect
        reconnectTask = eventLoop.assumeIsolated().scheduleTask(in: backoff.next()) { [weak self] in
            guard let self, case .waitingToReconnect = self.state else { return }
            self.reconnectTask = nil
            self.connect()
        }
    }
}
