import Foundation

/// `openssl s_server -www` on a loopback port with a self-signed certificate for `name`: a real
/// TLS upstream for passthrough tests. A client that reaches it sees the certificate's subject
/// `CN=<name>` (curl -v prints it), which tells which upstream a proxy chose.
public final class TLSTestServer: Sendable {
    public let name: String
    public let port: Int
    let child: ChildProcess

    init(name: String, port: Int, child: ChildProcess) {
        self.name = name
        self.port = port
        self.child = child
    }

    /// Starts a server for `name` (its certificate is made in a temporary directory) on `host`
    /// (any 127.x address) and `port` (a free one when nil), and waits until it accepts
    /// connections (at most 10 s).
    public static func start(name: String, host: String = "127.0.0.1", port fixed: Int? = nil) async throws -> TLSTestServer {
        guard let openssl = ChildProcess.which("openssl") else { throw ChildProcessError("openssl is not installed") }
        let directory = try TemporaryDirectory.make(prefix: "tls-\(name)")
        let key = directory.appendingPathComponent("key.pem").path, cert = directory.appendingPathComponent("cert.pem").path
        let made = try await ChildProcess.run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                                                        "-days", "2", "-subj", "/CN=\(name)"])
        guard made.status == 0 else { throw ChildProcessError("openssl req failed: \(made.stderr)") }
        for _ in 0..<(fixed == nil ? 5 : 1) {
            let port = try fixed ?? FreePort.pick()
            let child = try ChildProcess.start(openssl, ["s_server", "-accept", "\(host):\(port)", "-cert", cert, "-key", key,
                                                          "-www", "-quiet"], directory: directory)
            let deadline = Date().addingTimeInterval(10)
            while child.isRunning, Date() < deadline {
                if (try? await RawConnection.connect(host: host, port: port).close()) != nil {
                    return TLSTestServer(name: name, port: port, child: child)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            await child.stop()  // the port was taken meanwhile, or it never came up: another port
        }
        throw ChildProcessError("openssl s_server did not start")
    }

    public func stop() async {
        await child.stop()
        try? FileManager.default.removeItem(at: child.directory)
    }

    /// Starts one server per name, runs `body`, and stops them whatever happens.
    public static func with<T>(names: [String], _ body: ([TLSTestServer]) async throws -> T) async throws -> T {
        var servers: [TLSTestServer] = []
        return try await withCleanup {
            for name in names { servers.append(try await start(name: name)) }
            return try await body(servers)
        } cleanup: {
            for server in servers { await server.stop() }
        }
    }
}
