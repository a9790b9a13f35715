import FerryTestKit
import Foundation
import Testing

/// The `ferry` executable built by `swift build` in this package (`.build/debug/ferry`), run
/// as a child process.
enum FerryBinary {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func path() throws -> String {
        let path = packageRoot.appendingPathComponent(".build/debug/ferry").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ChildProcessError("\(path) is missing; run `swift build --build-tests` first")
        }
        return path
    }

    /// Runs `ferry ARGS` to completion (bounded by `timeout`).
    static func run(_ arguments: [String], timeout: Double = 60) async throws -> ChildProcess.Finished {
        try await ChildProcess.run(try path(), arguments, timeout: timeout)
    }

    /// What a serving `ferry` logged about where it listens.
    struct Bound {
        var listeners: [String: Int]
        var admin: Int?
    }

    /// Starts `ferry ARGS` in serve mode, waits for "ferry started", reads the bound addresses
    /// from the log (from `logFile` when given, else stderr), runs `body`, and stops the
    /// process whatever happens.
    static func serve<T>(_ arguments: [String], logFile: String? = nil, timeout: Double = 60,
                         _ body: (ChildProcess, Bound) async throws -> T) async throws -> T {
        try await ChildProcess.with(try path(), arguments) { child in
            let deadline = Date().addingTimeInterval(timeout)
            var log = ""
            while true {
                log = logFile.flatMap { try? String(contentsOfFile: $0, encoding: .utf8) } ?? child.stderr
                if log.contains("ferry started") { break }
                guard child.isRunning else { throw ChildProcessError("ferry exited early:\n\(child.stderr)\(log)") }
                guard Date() < deadline else { throw ChildProcessError("ferry did not start within \(timeout)s:\n\(log)") }
                try await Task.sleep(for: .milliseconds(25))
            }
            return try await body(child, parse(log))
        }
    }

    static func parse(_ log: String) -> Bound {
        var bound = Bound(listeners: [:], admin: nil)
        for line in log.split(separator: "\n") {
            if let match = line.firstMatch(of: /listener (\S+) listening on 127\.0\.0\.1:(\d+)/) {
                bound.listeners[String(match.1)] = Int(match.2)
            } else if let match = line.firstMatch(of: /admin address: 127\.0\.0\.1:(\d+)/) {
                bound.admin = Int(match.1)
            }
        }
        return bound
    }
}

/// Gives each test of a suite its own temporary directory for config and log files
/// (`CLIConfigs.file`) and removes it when the test ends, passed or failed.
struct TemporaryFiles: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func scopeProvider(for test: Test, testCase: Test.Case?) -> TemporaryFiles? { test.isSuite ? nil : self }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let directory = try TemporaryDirectory.make(prefix: "cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await CLIConfigs.$directory.withValue(directory) { try await function() }
    }
}

extension Trait where Self == TemporaryFiles {
    static var temporaryFiles: Self { TemporaryFiles() }
}

/// Config files for the CLI tests, written into the test's `TemporaryFiles` directory.
enum CLIConfigs {
    @TaskLocal static var directory: URL?

    /// A path named `name` in the test's directory (nothing is created).
    static func file(_ name: String) throws -> String {
        guard let directory else { throw ChildProcessError("CLIConfigs needs the suite trait .temporaryFiles") }
        return directory.appendingPathComponent(name).path
    }

    static func write(_ text: String, name: String = "ferry.yaml") throws -> String {
        let path = try file(name)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Admin and one listener on port 0; `/body` answers a direct response with `body`, other
    /// paths go to the cluster `backend` (nothing listens on its port 9).
    static func directResponse(body: String = "from file", listenerPort: Int = 0) -> String {
        """
        admin:
          address: {socket_address: {address: 127.0.0.1, port_value: 0}}
        static_resources:
        \(listeners(body: body, port: listenerPort))
          clusters:
          - name: backend
            type: STATIC
            connect_timeout: 1s
            load_assignment:
              cluster_name: backend
              endpoints:
              - lb_endpoints:
                - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 9}}}

        """
    }

    /// `static_resources.listeners` alone, for a `--config-yaml` overlay.
    static func listenersOverlay(body: String) -> String {
        "static_resources:\n" + listeners(body: body, port: 0) + "\n"
    }

    static func listeners(body: String, port: Int) -> String {
        """
          listeners:
          - name: main
            address: {socket_address: {address: 127.0.0.1, port_value: \(port)}}
            filter_chains:
            - filters:
              - name: envoy.filters.network.http_connection_manager
                typed_config:
                  "@type": \(TestConfig.hcmType)
                  stat_prefix: cli
                  route_config:
                    name: cli_routes
                    virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                      - match: {path: "/body"}
                        direct_response: {status: 200, body: {inline_string: "\(body)"}}
                      - match: {prefix: "/"}
                        route: {cluster: backend}
                  http_filters:
                  - name: envoy.filters.http.router
                    typed_config: {"@type": \(TestConfig.routerType)}
        """
    }
}
