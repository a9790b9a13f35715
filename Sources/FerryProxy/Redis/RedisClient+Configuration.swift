import NIOCore

extension RedisClient {
    /// Where the client connects and how long it waits. Defaults suit a rate limit on the
    /// request path: a short command timeout, quick reconnects.
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        /// `AUTH [username] password` after connecting, when `password` is set.
        public var username: String?
        public var password: String?
        /// `SELECT database` after connecting, when set.
        public var database: Int?
        /// Timeout of a command when `send` names none. Default 100 ms.
        public var commandTimeout: TimeAmount = .milliseconds(100)
        /// Timeout of the TCP connect, and then of `AUTH`/`SELECT`. Default 1 s.
        public var connectTimeout: TimeAmount = .seconds(1)
        /// Reconnect delays grow from `reconnectBase` to `reconnectCap` (jittered).
        /// Defaults 50 ms and 1 s.
        public var reconnectBase: TimeAmount = .milliseconds(50)
        public var reconnectCap: TimeAmount = .seconds(1)
        /// When the oldest command waits longer than this (or than its own timeout, if longer),
        /// the server or the network is stuck: the connection is closed and a new one made.
        /// Default 1 s.
        public var stallTimeout: TimeAmount = .seconds(1)
        /// Commands waiting for replies on the connection at most; more fail at once with
        /// `.tooManyPending`. Default 4096.
        public var maxPendingCommands = 4096
        /// Limits on what the server may send. Defaults: Redis's own 512 MiB bulk limit, depth 32.
        public var parserLimits = RESPParser.Limits()

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }
}
