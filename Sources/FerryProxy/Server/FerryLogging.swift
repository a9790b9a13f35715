import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#endif

/// Log levels per component, changeable at run time (`-l`, `--component-log-level`, admin
/// `POST /logging`). Components are Envoy-like names: main, config, admin, upstream, dns,
/// connection, http.
public final class LogLevels: Sendable {
    public static let components = ["main", "config", "admin", "upstream", "dns", "connection", "http", "runtime"]
    private let state: NIOLockedValueBox<(default: Logger.Level, components: [String: Logger.Level])>

    public init(default level: Logger.Level = .info) {
        state = NIOLockedValueBox((level, [:]))
    }

    public func level(for component: String) -> Logger.Level {
        state.withLockedValue { $0.components[component] ?? $0.default }
    }

    public func setAll(_ level: Logger.Level) {
        state.withLockedValue { s in
            s.default = level
            s.components = [:]
        }
    }

    public func set(_ component: String, _ level: Logger.Level) {
        state.withLockedValue { $0.components[component] = level }
    }

    public var snapshot: [(String, Logger.Level)] {
        state.withLockedValue { s in Self.components.map { ($0, s.components[$0] ?? s.default) } }
    }

    /// Envoy's level names: trace, debug, info, warning (warn), error, critical, off.
    public static func parse(_ name: String) -> Logger.Level? {
        switch name.lowercased() {
        case "trace": .trace
        case "debug": .debug
        case "info": .info
        case "warning", "warn": .warning
        case "error": .error
        case "critical": .critical
        case "off": .critical
        default: nil
        }
    }

    public static func name(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "info"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }
}

/// Where log lines go: stderr or a file (`--log-path`), one `write` per line.
public final class LogOutput: Sendable {
    let fd: Int32

    public init(path: String?) throws {
        if let path {
            let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw LogOutputError(path: path, errno: errno) }
            self.fd = fd
        } else {
            fd = STDERR_FILENO
        }
    }

    func write(_ line: String) {
        var line = line
        line.withUTF8 { buf in
            var offset = 0
            while offset < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + offset, buf.count - offset)
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}

public struct LogOutputError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "cannot open log file \(path): \(String(cString: strerror(errno)))" }
}

/// A swift-log handler printing `[2026-11-23 04:13:31.486][level][component] message`.
public struct FerryLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level {
        get { levels.level(for: component) }
        set { levels.set(component, newValue) }
    }

    let component: String
    let levels: LogLevels
    let output: LogOutput

    public init(component: String, levels: LogLevels, output: LogOutput) {
        self.component = component
        self.levels = levels
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard event.level >= levels.level(for: component) else { return }
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var tm = tm()
        var seconds = ts.tv_sec
        gmtime_r(&seconds, &tm)
        func pad(_ v: Int32, _ n: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        let stamp = "\(tm.tm_year + 1900)-\(pad(tm.tm_mon + 1))-\(pad(tm.tm_mday)) \(pad(tm.tm_hour)):\(pad(tm.tm_min)):\(pad(tm.tm_sec)).\(pad(Int32(ts.tv_nsec / 1_000_000), 3))"
        var extra = ""
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        if !merged.isEmpty { extra = " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
        output.write("[\(stamp)][\(LogLevels.name(event.level))][\(component)] \(event.message)\(extra)\n")
    }
}
