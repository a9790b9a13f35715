import NIOCore

extension Worker {
    /// Runs one Redis call on this loop's client. While the client is making its first
    /// connection (a new process, or a rule just loaded), a `.notConnected` failure is retried
    /// every 5 ms until `deadline` rather than reported at once; once the client has been
    /// connected, failures are reported as they come (the caller's failure mode decides).
    func redisCall<T>(_ configuration: RedisClient.Configuration, until deadline: NIODeadline,
                      _ call: @escaping (RedisClient, @escaping (Result<T, RedisError>) -> Void) -> Void,
                      _ done: @escaping (Result<T, RedisError>) -> Void) {
        let client = redisClient(configuration)
        call(client) { [self] result in
            if case .failure(.notConnected) = result, client.connectionsReady == 0, loop.now < deadline {
                loop.assumeIsolated().scheduleTask(in: .milliseconds(5)) { self.redisCall(configuration, until: deadline, call, done) }
                return
            }
            done(result)
        }
    }
}
