import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import FerryAdmin
import FerryConfig
import FerryProxy
import Logging
import NIOCore

/// `ferry proxy`: Envoy's command line.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "proxy", abstract: "Run the proxy on an Envoy v3 bootstrap config.")

    @Option(name: [.customShort("c"), .customLong("config-path")], help: "Path to the bootstrap file (YAML or JSON).")
    var configPath: String?

    @Option(name: .customLong("config-yaml"), help: "YAML merged on top of the file (maps merge, scalars and lists replace).")
    var configYAML: String?

    @Option(name: .customLong("mode"), help: "serve (default) or validate (check the config and exit; no sockets bound).")
    var mode: String = "serve"

    @Option(name: [.customShort("l"), .customLong("log-level")], help: "trace, debug, info, warning, error, critical or off.")
    var logLevel: String = "info"

    @Option(name: .customLong("component-log-level"), help: "Per-component levels, e.g. upstream:debug,config:trace.")
    var componentLogLevel: String?

    @Option(name: .customLong("log-path"), help: "Write logs to this file instead of stderr.")
    var logPath: String?

    @Option(name: .customLong("concurrency"), help: "Worker event loops (default: number of cores).")
    var concurrency: Int?

    @Option(name: .customLong("drain-time-s"), help: "Seconds to drain connections on shutdown (default 600).")
    var drainTime: Int = 600

    @Option(name: .customLong("service-cluster"), help: "Overrides node.cluster.")
    var serviceCluster: String?

    @Option(name: .customLong("service-node"), help: "Overrides node.id.")
    var serviceNode: String?

    @Option(name: .customLong("service-zone"), help: "Overrides node.locality.zone.")
    var serviceZone: String?

    @Option(name: .customLong("dns-override"), help: "Ferry extension: resolve NAME to IP (NAME=IP[,IP...]); repeatable.")
    var dnsOverrides: [String] = []

    @Flag(name: .customLong("disable-hot-restart"), help: "Accepted for Envoy compatibility; Ferry reloads in one process.")
    var disableHotRestart = false

    @Option(name: .customLong("base-id"), help: "Accepted for Envoy compatibility (hot restart is not used).")
    var baseID: Int?

    func validate() throws {
        guard configPath != nil || configYAML != nil else {
            throw ValidationError("give a configuration with -c/--config-path FILE or --config-yaml TEXT")
        }
        guard mode == "serve" || mode == "validate" else {
            throw ValidationError("--mode must be serve or validate (got \(mode))")
        }
        guard LogLevels.parse(logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, warning, error, critical, off")
        }
        if let c = concurrency, c < 1 { throw ValidationError("--concurrency must be at least 1") }
        if drainTime < 0 { throw ValidationError("--drain-time-s must not be negative") }
    }

    func run() async throws {
        let levels = LogLevels(default: LogLevels.parse(logLevel) ?? .info)
        if let componentLogLevel {
            for item in componentLogLevel.split(separator: ",") {
                let parts = item.split(separator: ":")
                guard parts.count == 2, let level = LogLevels.parse(String(parts[1])), LogLevels.components.contains(String(parts[0])) else {
                    throw ValidationError("--component-log-level: \"\(item)\" is not component:level (components: \(LogLevels.components.joined(separator: ", ")))")
                }
                levels.set(String(parts[0]), level)
            }
        }
        let output = try LogOutput(path: logPath)
        LoggingSystem.bootstrap { label in FerryLogHandler(component: label, levels: levels, output: output) }
        let logger = Logger(label: "main")
        var overrides: [String: [String]] = [:]
        for item in dnsOverrides {
            let parts = item.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { throw ValidationError("--dns-override takes NAME=IP, got \"\(item)\"") }
            overrides[parts[0].lowercased()] = parts[1].split(separator: ",").map(String.init)
        }
        if disableHotRestart || baseID != nil {
            logger.info("hot restart flags are accepted and ignored: Ferry reloads configuration within one process")
        }

        var loaded: LoadedConfig
        switch ConfigLoader.load(path: configPath, configYAML: configYAML) {
        case .success(let config): loaded = config
        case .failure(let errors):
            printError(errors.description)
            throw ExitCode(1)
        }
        let (cluster, node, zone) = (serviceCluster, serviceNode, serviceZone)
        let adjust: @Sendable (inout LoadedConfig) -> Void = { config in
            if let cluster { config.bootstrap.node.cluster = cluster }
            if let node { config.bootstrap.node.id = node }
            if let zone { config.bootstrap.node.locality.zone = zone }
        }
        adjust(&loaded)
        for warning in loaded.warnings { Logger(label: "config").warning("\(warning)") }

        let name = configPath ?? "--config-yaml"
        if mode == "validate" {
            if case .failure(let errors) = GenerationCompiler.compile(loaded, id: 0, store: .init()) {
                printError(errors.description)
                throw ExitCode(1)
            }
            print("configuration '\(name)' OK")
            return
        }
        var options = ProxyOptions(concurrency: concurrency ?? System.coreCount, drainTime: .seconds(Int64(drainTime)),
                                   hostOverrides: overrides, configPath: configPath, configYAML: configYAML, logger: logger)
        options.adjustConfig = adjust
        let commandLine: [(String, String)] = [
            ("concurrency", "\(options.concurrency)"), ("config_path", JSONText.quote(configPath ?? "")),
            ("config_yaml", JSONText.quote(configYAML ?? "")), ("log_level", JSONText.quote(logLevel)),
            ("component_log_level", JSONText.quote(componentLogLevel ?? "")), ("log_path", JSONText.quote(logPath ?? "")),
            ("drain_time", JSONText.quote("\(drainTime)s")), ("mode", JSONText.quote("Serve")),
            ("service_cluster", JSONText.quote(loaded.bootstrap.node.cluster)), ("service_node", JSONText.quote(loaded.bootstrap.node.id)),
            ("service_zone", JSONText.quote(loaded.bootstrap.node.locality.zone)),
        ]
        try await ServeRunner.serve(loaded, options: options, levels: levels, commandLine: commandLine, version: Ferry.configuration.version)
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var s = string
        s.withUTF8 { buf in _ = Glibc.write(STDERR_FILENO, buf.baseAddress, buf.count) }
    }
}

enum JSONText {
    static func quote(_ s: String) -> String {
        var out = "\""
        for ch in s.unicodeScalars {
            switch ch {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(ch)
            }
        }
        return out + "\""
    }
}
