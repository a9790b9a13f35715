import Foundation

/// Runs the real curl binary, for integration tests that must use a real client.
public enum Curl {
    public struct Result: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String
        public var exitCode: Int32
        public var stderr: String

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    /// `curl -s -i ARGS URL`; parses the last response (after any 100 Continue).
    public static func run(_ arguments: [String], timeout: Double = 30) throws -> Result {
        let output = try Spawned.capture("/usr/bin/curl", ["-s", "-i", "--max-time", String(Int(timeout))] + arguments)
        var result = parse(output.stdout)
        result.exitCode = output.status
        result.stderr = String(decoding: output.stderr, as: UTF8.self)
        return result
    }

    /// Blocks its thread: async tests use `fetch` (Curl+Async.swift).
    public static func get(_ url: String, headers: [String: String] = [:]) throws -> Result {
        try run(getArguments(url, headers: headers))
    }

    static func getArguments(_ url: String, headers: [String: String]) -> [String] {
        var args: [String] = []
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { args += ["-H", "\(k): \(v)"] }
        return args + [url]
    }

    static func parse(_ data: Data) -> Result {
        var text = String(decoding: data, as: UTF8.self)
        var result = Result(status: 0, headers: [], body: "", exitCode: 0, stderr: "")
        while text.hasPrefix("HTTP/") {
            guard let end = text.range(of: "\r\n\r\n") else { break }
            let head = text[..<end.lowerBound]
            let lines = head.split(separator: "\r\n")
            let statusLine = lines.first.map(String.init) ?? ""
            let parts = statusLine.split(separator: " ")
            result.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
            result.headers = lines.dropFirst().compactMap { line in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
            }
            text = String(text[end.upperBound...])
            if (100..<200).contains(result.status) && result.status != 101 { continue }
            break
        }
        result.body = text
        return result
    }
}
