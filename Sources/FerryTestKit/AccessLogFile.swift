import Foundation

/// A fresh access log path in the temporary directory, and bounded polling for the lines the
/// proxy's writer thread appends to it.
public struct AccessLogFile: Sendable {
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "ferry-access-\(UUID().uuidString).log"
    }

    /// The lines written so far.
    public var lines: [String] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(
            String.init)
    }

    /// Polls every 10 ms until at least `count` lines were written or `timeout` passes.
    public func waitForLines(_ count: Int, timeout: Duration = .seconds(10)) async -> [String] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let current = lines
            if current.count >= count || ContinuousClock.now >= deadline { return current }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// An HCM `access_log` entry (YAML, at HCM field level) writing `format` to this file;
    /// `format` is a text format string (a newline is added) unless `json` is given.
    public func yaml(format: String? = "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%", json: String? = nil)
        -> String
    {
        var text = """
            access_log:
            - name: envoy.access_loggers.file
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                path: \(path)

            """
        if let json {
            text += "    log_format: {json_format: \(json)}\n"
        } else if let format {
            let quoted = format.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(
                of: "\"", with: "\\\"")
            text += "    log_format: {text_format_source: {inline_string: \"\(quoted)\\n\"}}\n"
        }
        return text
    }

    /// Runs `body` with a fresh log file and removes the file afterwards.
    public static func with<T>(_ body: (AccessLogFile) async throws -> T) async rethrows -> T {
        let file = AccessLogFile()
        defer { file.remove() }
        return try await body(file)
    }
}
