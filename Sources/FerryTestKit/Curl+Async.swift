import Foundation

extension Curl {
    /// Foundation's `Process.run` crashes when several threads launch processes at once, so
    /// launches take turns; waiting for the processes does not.
    private static let launchLock = NSLock()

    /// `run` for async tests, on a thread of its own: curl blocks its caller while it waits,
    /// and a blocked Swift concurrency pool thread starves servers that answer from that pool
    /// (the admin API does). Same arguments and result as `run`.
    public static func perform(_ arguments: [String], timeout: Double = 30) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try runLaunchingAlone(arguments, timeout: timeout))
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
        var arguments: [String] = []
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        return try await perform(arguments + [url])
    }

    private static func runLaunchingAlone(_ arguments: [String], timeout: Double) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-i", "--max-time", String(Int(timeout))] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try launchLock.withLock { try process.run() }
        // stderr is read on its own thread so that neither pipe can fill up and stall curl.
        let errData = ErrorCollector(err.fileHandleForReading)
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var result = parse(data)
        result.exitCode = process.terminationStatus
        result.stderr = String(decoding: errData.wait(), as: UTF8.self)
        return result
    }

    /// Reads a pipe to its end on a separate thread.
    private final class ErrorCollector: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()

        init(_ handle: FileHandle) {
            let thread = Thread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
            thread.start()
        }

        func wait() -> Data {
            done.wait()
            return data
        }
    }
}
