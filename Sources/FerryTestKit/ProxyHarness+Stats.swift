import Foundation

extension ProxyHarness {
    /// A counter or gauge read through the admin API (`/stats?filter=^name$`); nil when the
    /// stat does not exist.
    public func stat(_ name: String) async throws -> Int? {
        let escaped = NSRegularExpression.escapedPattern(for: name)
        let encoded = "^\(escaped)$".addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
        let result = try await Curl.fetch("http://127.0.0.1:\(adminPort)/stats?filter=\(encoded)")
        for line in result.body.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return Int(parts[1].trimmingCharacters(in: .whitespaces)) }
        }
        return nil
    }

    /// The URL of `path` on the first listener.
    public func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }
}
