import Foundation

/// A gRPC (or gRPC-Web) call made with the real curl: a POST of `body` (usually framed
/// messages, `GRPCFrame.bytes`) with the given content-type, the response body kept as bytes.
/// HTTP/1.1 today; `curlOptions` can add `--http2-prior-knowledge` once Ferry speaks HTTP/2.
public enum GRPCClient {
    public struct Response: Sendable {
        public var status: Int
        /// Header fields with lowercased names (the last response after any 100 Continue).
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? { headers.first { $0.0 == name }?.1 }
        public var frames: [GRPCFrame] { GRPCFrame.parse(body) }
    }

    public static func call(_ url: String, body: [UInt8], contentType: String = "application/grpc",
                            headers: [String: String] = [:], curlOptions: [String] = [],
                            timeout: Double = 30) async throws -> Response {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-grpc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let request = directory.appendingPathComponent("request")
        let output = directory.appendingPathComponent("response")
        let dump = directory.appendingPathComponent("headers")
        try Data(body).write(to: request)
        var arguments = ["-s", "--max-time", String(Int(timeout)), "-X", "POST", "-H", "content-type: \(contentType)",
                         "--data-binary", "@\(request.path)", "-o", output.path, "-D", dump.path]
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { arguments += ["-H", "\(name): \(value)"] }
        arguments += curlOptions + [url]
        // curl blocks its thread: run it on one of its own, not on the concurrency pool.
        let captured = arguments
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try Spawned.capture("/usr/bin/curl", captured).status })
            }.start()
        }
        guard status == 0 else { throw CurlFailed(exitCode: status) }
        let head = String(decoding: (try? Data(contentsOf: dump)) ?? Data(), as: UTF8.self)
        var response = Response(status: 0, headers: [], body: Array((try? Data(contentsOf: output)) ?? Data()))
        // The last head in the dump is the final response (after any 100 Continue).
        for line in head.split(separator: "\r\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("HTTP/") {
                response.status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                response.headers = []
            } else if let colon = line.firstIndex(of: ":") {
                response.headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...].trimmingSpaces())))
            }
        }
        return response
    }

    public struct CurlFailed: Error {
        public var exitCode: Int32
    }
}
