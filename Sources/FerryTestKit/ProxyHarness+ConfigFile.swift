import FerryAdmin
import FerryConfig
import FerryProxy
import Foundation
import Logging
import NIOCore

/// A bootstrap file on disk that a test rewrites between reloads.
public struct ConfigFile: Sendable {
    public let path: String

    /// Replaces the file's content in one rename, so a reload never reads half a file.
    public func write(_ yaml: String) throws {
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
    }
}

extension ProxyHarness {
    /// Starts a proxy (and admin) from a config file, as `ferry -c PATH --config-yaml OVERLAY`
    /// does, so `POST /reload` and `server.reload()` re-read the file (and re-apply `configYAML`).
    public static func start(configPath: String, configYAML: String? = nil, concurrency: Int = 1,
                             drainTime: TimeAmount = .seconds(5),
                             logLevel: Logger.Level = .warning) async throws -> ProxyHarness {
        let loaded = try ConfigLoader.load(path: configPath, configYAML: configYAML).get()
        let levels = LogLevels(default: logLevel)
        let output = try LogOutput(path: nil)
        var logger = Logger(label: "main") { label in FerryLogHandler(component: label, levels: levels, output: output) }
        logger.logLevel = logLevel
        let options = ProxyOptions(concurrency: concurrency, drainTime: drainTime, configPath: configPath, configYAML: configYAML,
                                   logger: logger)
        let server = try await ProxyServer.start(config: loaded, options: options)
        var admin: AdminServer?
        if let config = loaded.bootstrap.admin {
            let api = AdminAPI(proxy: server, levels: levels, info: ServerInfo(version: "test", commandLine: [])) {}
            do {
                admin = try await AdminServer.start(host: config.address.address, port: config.address.port, admin: api)
            } catch {
                await server.shutdown()
                throw error
            }
        }
        return ProxyHarness(server: server, admin: admin, levels: levels)
    }

    /// Starts echo upstreams named `upstreams`, writes `yaml(ports)` to a temporary file, starts
    /// a proxy from it (with `configYAML(ports)` as the `--config-yaml` overlay), runs `body`,
    /// and stops everything (and removes the file) whatever happens.
    public static func withConfigFile<T>(upstreams: [String] = [], yaml: ([Int]) -> String,
                                         configYAML: (([Int]) -> String)? = nil,
                                         concurrency: Int = 1, logLevel: Logger.Level = .warning,
                                         _ body: (ProxyHarness, [EchoServer], ConfigFile) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory.make(prefix: "reload")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = ConfigFile(path: directory.appendingPathComponent("ferry.yaml").path)
        return try await running(upstreams: upstreams, start: { ports in
            try file.write(yaml(ports))
            return try await start(configPath: file.path, configYAML: configYAML?(ports), concurrency: concurrency,
                                   logLevel: logLevel)
        }) { proxy, echoes in try await body(proxy, echoes, file) }
    }

    /// `POST /reload` through the admin API (answers once the new generation is active).
    public func reload() async throws -> RawHTTPResponse {
        try await Self.admin("POST", "/reload", port: adminPort)
    }

    /// One request to an admin API on `port`.
    public static func admin(_ method: String, _ path: String, port: Int, timeout: Double = 30) async throws -> RawHTTPResponse {
        let request = "\(method) \(path) HTTP/1.1\r\nhost: 127.0.0.1:\(port)\r\nconnection: close\r\n\r\n"
        return try await RawHTTPClient.exchange(port: port, request, timeout: timeout)
    }
}
