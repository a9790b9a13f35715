import Foundation

/// The `wrk` load generator as a child process, for `maxSeconds`. (Started from the test runner
/// it inherits a signal mask that blocks SIGINT, so it cannot be stopped early with its summary.)
public struct Wrk: Sendable {
    public static let path = "/usr/bin/wrk"

    /// wrk's summary: totals and the error lines it prints only when something failed.
    public struct Summary: Sendable, CustomStringConvertible {
        public var requests = 0
        public var non2xx3xx = 0
        public var connectErrors = 0
        public var readErrors = 0
        public var writeErrors = 0
        public var timeouts = 0
        public var socketErrors: Int { connectErrors + readErrors + writeErrors + timeouts }
        public var description: String {
            "\(requests) requests; non-2xx/3xx \(non2xx3xx); socket errors: connect \(connectErrors), read \(readErrors), "
                + "write \(writeErrors), timeout \(timeouts)"
        }
    }

    public let child: ChildProcess
    public let maxSeconds: Int

    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: path) }

    /// Starts `wrk -t THREADS -c CONNECTIONS -d MAXSECONDS URL` (keep-alive HTTP/1.1).
    public static func start(url: String, connections: Int, threads: Int = 1, maxSeconds: Int) throws -> Wrk {
        let child = try ChildProcess.start(path, ["-t", "\(threads)", "-c", "\(connections)", "-d", "\(maxSeconds)s",
                                                  "--timeout", "10s", url])
        return Wrk(child: child, maxSeconds: maxSeconds)
    }

    /// Waits for wrk to finish (at most its duration and 15 s more) and parses its summary; nil
    /// when wrk printed none.
    public func finish() async -> (summary: Summary?, output: String) {
        if await child.waitForExit(timeout: Double(maxSeconds) + 15) == nil { await child.stop() }
        let output = child.stdout + child.stderr
        try? FileManager.default.removeItem(at: child.directory)
        return (Self.parse(output), output)
    }

    public static func parse(_ output: String) -> Summary? {
        var summary = Summary()
        guard let total = output.firstMatch(of: #/(\d+) requests in /#) else { return nil }
        summary.requests = Int(total.1) ?? 0
        if let m = output.firstMatch(of: /Non-2xx or 3xx responses: (\d+)/) { summary.non2xx3xx = Int(m.1) ?? 0 }
        if let m = output.firstMatch(of: /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/) {
            summary.connectErrors = Int(m.1) ?? 0
            summary.readErrors = Int(m.2) ?? 0
            summary.writeErrors = Int(m.3) ?? 0
            summary.timeouts = Int(m.4) ?? 0
        }
        return summary
    }
}
