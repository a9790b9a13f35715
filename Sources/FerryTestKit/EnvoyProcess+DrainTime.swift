import Foundation

extension EnvoyProcess {
    /// As `with(yaml:)`, but with `--drain-time-s drainTimeSeconds` (Envoy's drain period for
    /// `/drain_listeners?graceful`) and `-l info`, and the process handed to `body` so a test
    /// can signal it (by its pid only).
    public static func with<T>(yaml: String, drainTimeSeconds: Int, startTimeout: Double = 60,
                               _ body: (EnvoyProcess) async throws -> T) async throws -> T {
        let directory = try TemporaryDirectory.make(prefix: "envoy")
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("envoy.yaml").path
        let adminPath = directory.appendingPathComponent("admin-address.txt").path
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        let arguments = ["-c", configPath, "--disable-hot-restart", "--concurrency", "1", "-l", "info",
                         "--admin-address-path", adminPath, "--drain-time-s", "\(drainTimeSeconds)"]
        return try await ChildProcess.with(try binary.get(), arguments, directory: directory) { child in
            let adminPort = try await waitForAdmin(child, addressFile: adminPath, timeout: startTimeout)
            let ports = try await listenerPorts(adminPort: adminPort)
            return try await body(EnvoyProcess(child: child, adminPort: adminPort, listenerPorts: ports))
        }
    }
}
