import Foundation

extension Curl {
    /// `run` for async tests, on a thread of its own: curl blocks its caller while it waits,
    /// and a blocked Swift concurrency pool thread starves servers that answer from that pool
    /// (the admin API does). Same arguments and result as `run`.
    public static func perform(_ arguments: [String], timeout: Double = 30) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try run(arguments, timeout: timeout))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
    }

    /// `perform` under the name the admin tests use.
    public static func fetch(_ arguments: [String], timeout: Double = 30) async throws -> Result {
        try await perform(arguments, timeout: timeout)
    }

    /// `get` for async tests (see `perform`).
    public static func fetch(_ url: String, headers: [String: String] = [:]) async throws -> Result {
        try await perform(getArguments(url, headers: headers))
    }
}
