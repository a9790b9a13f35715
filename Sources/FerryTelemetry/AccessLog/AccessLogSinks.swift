import FerryConfig
import Synchronization

/// The process-wide registry of sinks: one `AccessLogSink` per destination, so listeners and
/// config generations that log to the same path share one buffer, one writer thread and one
/// file descriptor. Sinks are keyed by the path as written in the config.
public final class AccessLogSinks: Sendable {
    public static let shared = AccessLogSinks()

    private let sinks = Mutex<[AccessLog.Sink: AccessLogSink]>([:])

    public init() {}

    /// The sink for `destination`, opened on first use.
    public func sink(for destination: AccessLog.Sink) throws(AccessLogSinkError) -> AccessLogSink {
        try sinks.withLock { sinks throws(AccessLogSinkError) -> AccessLogSink in
            if let sink = sinks[destination] { return sink }
            let sink = try AccessLogSink(destination)
            sinks[destination] = sink
            return sink
        }
    }

    public func flushAll() {
        for sink in all() { sink.flush() }
    }

    /// Reopens every file sink (log rotation); returns the files that could not be reopened,
    /// which keep writing to their old descriptor.
    @discardableResult
    public func reopenAll() -> [AccessLogSinkError] {
        var failures: [AccessLogSinkError] = []
        for sink in all() {
            do { try sink.reopen() } catch { failures.append(error) }
        }
        return failures
    }

    /// Flushes and closes every sink and forgets them (shutdown).
    public func closeAll() {
        let closing = sinks.withLock { sinks in
            defer { sinks.removeAll() }
            return Array(sinks.values)
        }
        for sink in closing { sink.close() }
    }

    private func all() -> [AccessLogSink] {
        sinks.withLock { Array($0.values) }
    }
}
