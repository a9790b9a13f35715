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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        process.arguments = ["-s", "-i", "--max-time", String(Int(timeout))] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        var result = parse(data)
        result.exitCode = process.terminationStatus
        result.stderr = String(decoding: errData, as: UTF8.self)
        return result
    }

    public static func get(_ url: String, headers: [String: String] = [:]) throws -> Result {
        var args: [String] = []
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { args += ["-H", "\(k): \(v)"] }
        return try run(args + [url])
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
