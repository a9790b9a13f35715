import Foundation

extension Curl {
    /// `run` on a thread of its own, so that waiting for curl never blocks a thread of Swift's
    /// cooperative pool. The in-process admin server answers through that pool, so a test that
    /// blocked it while curl waited for the admin would deadlock on a small machine.
    public static func fetch(_ arguments: [String], timeout: Double = 30) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Swift.Result { try run(arguments, timeout: timeout) })
            }
            thread.start()
        }
    }

    /// GET `url` with `headers`, off the cooperative pool.
    public static func fetch(_ url: String, headers: [String: String] = [:]) async throws -> Result {
        var arguments: [String] = []
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        return try await fetch(arguments + [url])
    }
}
