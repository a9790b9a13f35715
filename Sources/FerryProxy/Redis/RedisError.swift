/// Why a Redis command has no usable reply. Governance callers treat every case alike (apply
/// `failure_mode_deny`); the cases exist for stats and logs.
public enum RedisError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No connection is ready (connecting, waiting to reconnect, or not started): the command
    /// was not sent, and the callback ran at once.
    case notConnected
    /// The client was closed.
    case closed
    /// No reply within the command's timeout. The command may still run on the server.
    case timeout
    /// The connection ended before the reply arrived. The command may have run on the server.
    case connectionClosed
    /// The connection already waits for `maxPendingCommands` replies: the command was not sent.
    case tooManyPending
    /// The server sent bytes that are not RESP2 (or a reply nobody asked for); the connection
    /// was closed.
    case protocolError(String)
    /// The server answered with an error reply (`ERR ...`, `NOSCRIPT ...`, `WRONGPASS ...`).
    case server(String)
    /// A reply of a shape the caller did not expect (a governance script returning garbage).
    case unexpectedReply(String)
    /// The caller's arguments cannot make a valid command (a zero window, a negative limit).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .notConnected: return "redis: not connected"
        case .closed: return "redis: client closed"
        case .timeout: return "redis: command timed out"
        case .connectionClosed: return "redis: connection closed before the reply"
        case .tooManyPending: return "redis: too many commands waiting for replies"
        case .protocolError(let detail): return "redis: protocol error: \(detail)"
        case .server(let message): return "redis: server error: \(message)"
        case .unexpectedReply(let detail): return "redis: unexpected reply: \(detail)"
        case .invalidArgument(let detail): return "redis: invalid argument: \(detail)"
        }
    }
}

/// What every command's callback receives, on the client's event loop.
public typealias RedisCallback = (Result<RESPValue, RedisError>) -> Void
