import FerryConfig
import Logging
import NIOCore

/// Process-level settings from the command line (Envoy's flags).
public struct ProxyOptions: Sendable {
    /// Worker event loops (`--concurrency`); default the number of cores.
    public var concurrency: Int
    /// How long draining may take before the process exits (`--drain-time-s`, default 600 s as Envoy).
    public var drainTime: TimeAmount
    /// Ferry extension: fixed answers for host names before DNS (`--dns-override name=ip`).
    public var hostOverrides: [String: [String]]
    /// Where the configuration came from, for `/server_info` and reloads.
    public var configPath: String?
    public var configYAML: String?
    public var logger: Logger
    /// Applied to every loaded configuration (initial and reloads), e.g. `--service-node`.
    public var adjustConfig: (@Sendable (inout LoadedConfig) -> Void)?

    public init(concurrency: Int = System.coreCount, drainTime: TimeAmount = .seconds(600), hostOverrides: [String: [String]] = [:],
                configPath: String? = nil, configYAML: String? = nil, logger: Logger = Logger(label: "ferry")) {
        self.concurrency = concurrency
        self.drainTime = drainTime
        self.hostOverrides = hostOverrides
        self.configPath = configPath
        self.configYAML = configYAML
        self.logger = logger
    }
}
