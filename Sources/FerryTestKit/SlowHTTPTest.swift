import Foundation

/// The real `slowhttptest` (Debian package) run against a local port for a bounded time, with
/// its per-second CSV read back: how many of its connections were closed by the server, still
/// pending or still connected, and why the run ended.
public enum SlowHTTPTest {
    public enum Mode: String, Sendable {
        /// Slowloris: the request head never ends; a header line every `interval` seconds.
        case headers = "-H"
        /// R-U-Dead-Yet: a complete head announcing a body that trickles in.
        case body = "-B"
    }

    /// One line of the CSV report (`Seconds,Closed,Pending,Connected,Service Available`).
    public struct Sample: Sendable, Equatable {
        public var second: Int
        public var closed: Int
        public var pending: Int
        public var connected: Int
    }

    public struct Report: Sendable {
        public var samples: [Sample]
        /// The text after "Exit status:" (e.g. "No open connections left", "Hit test time limit").
        public var exitReason: String
        /// The second the test ended on, from "Test ended on Nth second".
        public var endedOnSecond: Int?
        public var stdout: String

        /// The most connections the server had closed at any sample.
        public var maxClosed: Int { samples.map(\.closed).max() ?? 0 }
    }

    /// Runs `slowhttptest MODE -c connections -r rate -i interval -l length -u url -g -o …`;
    /// the child is killed if it outlives `length + 30` seconds.
    public static func run(
        _ mode: Mode, url: String, connections: Int, rate: Int, interval: Int, length: Int,
        contentLength: Int = 4096
    ) async throws -> Report {
        guard let executable = ChildProcess.which("slowhttptest") ?? existing("/usr/bin/slowhttptest") else {
            throw ChildProcessError("slowhttptest is not installed; run scripts/install-test-deps")
        }
        let directory = try TemporaryDirectory.make(prefix: "slowhttptest")
        defer { try? FileManager.default.removeItem(at: directory) }
        let prefix = directory.appendingPathComponent("report").path
        let arguments = [
            mode.rawValue, "-c", String(connections), "-r", String(rate), "-i", String(interval), "-l", String(length),
            "-s", String(contentLength), "-u", url, "-p", "3", "-g", "-o", prefix,
        ]
        let finished = try await ChildProcess.run(executable, arguments, timeout: Double(length + 30))
        if finished.timedOut { throw ChildProcessError("slowhttptest ran past \(length + 30) s:\n\(finished.stdout)") }
        let csv = (try? String(contentsOfFile: prefix + ".csv", encoding: .utf8)) ?? ""
        let stdout = stripANSI(finished.stdout + finished.stderr)
        return Report(
            samples: parse(csv: csv), exitReason: field(after: "Exit status:", in: stdout) ?? "",
            endedOnSecond: endedOn(stdout), stdout: stdout)
    }

    static func existing(_ path: String) -> String? { FileManager.default.isExecutableFile(atPath: path) ? path : nil }

    static func parse(csv: String) -> [Sample] {
        csv.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard cells.count >= 4, let s = cells[0], let closed = cells[1], let pending = cells[2],
                let connected = cells[3]
            else { return nil }
            return Sample(second: s, closed: closed, pending: pending, connected: connected)
        }
    }

    static func stripANSI(_ text: String) -> String {
        text.replacing(/\x1B\[[0-9;]*[A-Za-z]/, with: "")
    }

    static func field(after label: String, in text: String) -> String? {
        guard let range = text.range(of: label) else { return nil }
        let rest = text[range.upperBound...]
        return rest.prefix { $0 != "\n" }.trimmingCharacters(in: .whitespaces)
    }

    static func endedOn(_ text: String) -> Int? {
        text.firstMatch(of: /Test ended on (\d+)/).flatMap { Int($0.1) }
    }
}
