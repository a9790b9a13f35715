import NIOCore

/// A Lua script run with `EVALSHA`, named by the SHA-1 of its text (computed once, here). Make
/// one per script, at startup (a `static let`), not per request.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        sha1 = SHA1.hex(source)
    }
}

extension RedisClient {
    /// Runs `script` with `EVALSHA`. When the server does not have it cached (`NOSCRIPT`: a
    /// restart, a failover, `SCRIPT FLUSH`), sends `SCRIPT LOAD` and the `EVALSHA` again,
    /// pipelined, within the first attempt's deadline. A `NOSCRIPT` reply means the script did
    /// not run, so the retry never runs it twice.
    public func evaluate(
        _ script: RedisScript, keys: [RESPArgument], arguments: [RESPArgument], timeout: TimeAmount? = nil,
        _ callback: @escaping RedisCallback
    ) {
        let deadline = eventLoop.now + (timeout ?? configuration.commandTimeout)
        let command: [RESPArgument] = ["EVALSHA", .string(script.sha1), .integer(keys.count)] + keys + arguments
        send(command, deadline: deadline) { [weak self] result in
            guard case .failure(.server(let message)) = result, message.hasPrefix("NOSCRIPT"), let self else {
                return callback(result)
            }
            var loadFailure: RedisError?
            self.send(["SCRIPT", "LOAD", .string(script.source)], deadline: deadline) { loaded in
                if case .failure(let error) = loaded { loadFailure = error }
            }
            // Replies come in order: the load's callback has run when this one runs.
            self.send(command, deadline: deadline) { retried in
                if case .failure = retried, let loadFailure { return callback(.failure(loadFailure)) }
                callback(retried)
            }
        }
    }
}
