import FerryAdmin
import FerryConfig
import FerryProxy
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A real proxy (and its admin API) running in-process on loopback, for integration tests.
/// Configs use port 0 for listeners and admin; `port(of:)` and `adminPort` tell where they
/// landed.
public final class ProxyHarness: Sendable {
    public let server: ProxyServer
    public let admin: AdminServer?
    public let levels: LogLevels

    /// Loads `yaml` (a full Envoy bootstrap) and starts it. Throws `ConfigErrors` for bad configs.
    public static func start(yaml: String, concurrency: Int = 1, hostOverrides: [String: [String]] = [:],
                             logLevel: Logger.Level = .warning) async throws -> ProxyHarness {
        let loaded = try ConfigLoader.load(yaml: yaml, file: "test.yaml").get()
        let levels = LogLevels(default: logLevel)
        let output = try LogOutput(path: nil)
        var logger = Logger(label: "main") { label in FerryLogHandler(component: label, levels: levels, output: output) }
        logger.logLevel = logLevel
        let options = ProxyOptions(concurrency: concurrency, drainTime: .seconds(5), hostOverrides: hostOverrides, logger: logger)
        let server = try await ProxyServer.start(config: loaded, options: options)
        var admin: AdminServer?
        if let config = loaded.bootstrap.admin {
            let api = AdminAPI(proxy: server, levels: levels, info: ServerInfo(version: "test", commandLine: [])) {}
            admin = try await AdminServer.start(host: config.address.address, port: config.address.port, admin: api)
        }
        return ProxyHarness(server: server, admin: admin, levels: levels)
    }

    init(server: ProxyServer, admin: AdminServer?, levels: LogLevels) {
        self.server = server
        self.admin = admin
        self.levels = levels
    }

    /// The bound port of a listener (after port 0 was resolved).
    public func port(of listener: String) -> Int {
        server.listenerAddresses.first { $0.name == listener }?.address.port ?? 0
    }

    /// The first listener's port.
    public var port: Int { server.listenerAddresses.first?.address.port ?? 0 }

    public var adminPort: Int { admin?.address?.port ?? 0 }

    /// Holds the worker's event loop (a proxy started with `concurrency: 1`) inside one task
    /// while `body` runs: whatever reaches the proxy's sockets meanwhile is handled together
    /// in the next loop iteration, in the order it arrived. For races that otherwise need luck.
    public func whileWorkerPaused<T>(_ body: () async throws -> T) async throws -> T {
        // 0: the task has not started; 1: the loop is held; 2: released.
        let gate = ConditionLock(value: 0)
        server.group.next().execute {
            gate.lock()
            gate.unlock(withValue: 1)
            gate.lock(whenValue: 2)
            gate.unlock()
        }
        let release = {
            gate.lock()
            gate.unlock(withValue: 2)
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while gate.value != 1 {
            guard ContinuousClock.now < deadline else {
                release()
                throw WorkerPauseTimeout()
            }
            try await Task.sleep(for: .milliseconds(2))
        }
        return try await withCleanup { try await body() } cleanup: { release() }
    }

    public struct WorkerPauseTimeout: Error, CustomStringConvertible {
        public var description: String { "the worker's event loop did not run the pausing task within 10 s" }
    }

    public func stop() async {
        await admin?.shutdown()
        await server.shutdown()
    }

    /// Starts echo upstreams named `upstreams`, then a proxy from `yaml(ports)`, runs `body`,
    /// and stops everything whether `body` succeeds or throws.
    public static func with<T>(upstreams: [String] = [], yaml: ([Int]) -> String, concurrency: Int = 1,
                               hostOverrides: [String: [String]] = [:],
                               _ body: (ProxyHarness, [EchoServer]) async throws -> T) async throws -> T {
        try await running(upstreams: upstreams, start: { ports in
            try await ProxyHarness.start(yaml: yaml(ports), concurrency: concurrency, hostOverrides: hostOverrides)
        }, body)
    }

    /// Starts echo upstreams named `names`, then the proxy `start` makes for their ports, runs
    /// `body`, and stops the proxy and the upstreams whether `body` succeeds or throws.
    static func running<T>(upstreams names: [String], start: ([Int]) async throws -> ProxyHarness,
                           _ body: (ProxyHarness, [EchoServer]) async throws -> T) async throws -> T {
        var echoes: [EchoServer] = []
        do {
            for name in names { echoes.append(try await EchoServer.start(name: name)) }
            let proxy = try await start(echoes.map(\.port))
            do {
                let result = try await body(proxy, echoes)
                await proxy.stop()
                for e in echoes { await e.stop() }
                return result
            } catch {
                await proxy.stop()
                throw error
            }
        } catch {
            for e in echoes { await e.stop() }
            throw error
        }
    }
}

/// Builds Envoy bootstrap YAML for tests: a listener on port 0 with the given routes, and
/// STATIC clusters on loopback ports.
public enum TestConfig {
    public static let hcmType = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    public static let routerType = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"

    /// `routes` (route list items) under one catch-all virtual host; `hcmExtra` as HCM fields;
    /// `clusters` maps a name to its STATIC loopback endpoint ports, with `clusterExtra` fields;
    /// `extraClusters` holds more cluster list items (weights, hostnames, DNS names).
    public static func bootstrap(routes: String, clusters: [(String, [Int])], hcmExtra: String = "", clusterExtra: String = "",
                                 extraClusters: String = "", admin: Bool = true, httpFilters: String = "", top: String = "") -> String {
        bootstrap(
            routeConfig: "virtual_hosts:\n" + virtualHost("all", domains: ["*"], routes: routes), clusters: clusters,
            hcmExtra: hcmExtra, clusterExtra: clusterExtra, extraClusters: extraClusters, admin: admin,
            httpFilters: httpFilters, top: top)
    }

    static func indent(_ text: String, _ spaces: Int) -> String {
        let pad = String(repeating: " ", count: spaces)
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : pad + $0 }.joined(separator: "\n")
    }
}
