import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real `redis-server` on a free loopback port, without persistence (`--save ''
/// --appendonly no`), `DEBUG` allowed from loopback (for `DEBUG SLEEP`). `start` returns once the
/// server answers `PING`; `stop` ends it, and `restart` starts it again on the same port (for
/// tests of what clients do while Redis is down).
public final class RedisServer: @unchecked Sendable {
    public let port: Int
    public let arguments: [String]
    private let directory: URL
    private let lock = NSLock()
    private var child: ChildProcess?

    private init(port: Int, arguments: [String], directory: URL) {
        self.port = port
        self.arguments = arguments
        self.directory = directory
    }

    /// What the server printed so far (its log goes to stdout).
    public var output: String { lock.withLock { child.map { $0.stdout + $0.stderr } ?? "" } }

    /// Starts a server with `arguments` added to the defaults (e.g. `["--requirepass", "s3cret"]`).
    /// A port taken between picking and binding is retried with another.
    public static func start(arguments: [String] = []) async throws -> RedisServer {
        let binary = try binaryPath()
        var lastError: Error?
        for _ in 0..<3 {
            let server = RedisServer(
                port: try FreePort.pick(), arguments: arguments,
                directory: try TemporaryDirectory.make(prefix: "redis"))
            do {
                try await server.launch(binary)
                return server
            } catch {
                lastError = error
                await server.stop()
                server.removeDirectory()
            }
        }
        throw lastError ?? ChildProcessError("redis-server did not start")
    }

    /// Starts a server, runs `body`, and stops the server whatever happens.
    public static func with<T>(arguments: [String] = [], _ body: (RedisServer) async throws -> T) async throws -> T {
        let server = try await start(arguments: arguments)
        return try await withCleanup {
            try await body(server)
        } cleanup: {
            await server.stop()
            server.removeDirectory()
        }
    }

    /// Kills the server; the port refuses connections until `restart`. SIGKILL, because without
    /// persistence there is nothing to flush, and because a child spawned from a Swift
    /// concurrency thread inherits that thread's blocked signals: redis-server never sees a
    /// SIGTERM, and `ChildProcess.stop` would wait out its 5 s grace on every test.
    public func stop() async {
        guard
            let child = lock.withLock({ () -> ChildProcess? in
                defer { self.child = nil }
                return self.child
            })
        else { return }
        child.signal(SIGKILL)
        _ = await child.waitForExit(timeout: 10)
    }

    /// Starts the server again on the same port (an empty data set).
    public func restart() async throws {
        await stop()
        try await launch(try Self.binaryPath())
    }

    /// `$REDIS_SERVER`, else `redis-server` on PATH, else the Debian package's path.
    public static func binaryPath() throws -> String {
        if let path = ProcessInfo.processInfo.environment["REDIS_SERVER"], !path.isEmpty { return path }
        if let path = ChildProcess.which("redis-server") { return path }
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") { return "/usr/bin/redis-server" }
        throw ChildProcessError(
            "redis-server is not installed; run scripts/install-test-deps (apt-get install redis-server)")
    }

    private func launch(_ binary: String) async throws {
        let all =
            [
                "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", directory.path, "--loglevel", "warning", "--enable-debug-command", "local",
            ] + arguments
        let child = try ChildProcess.start(binary, all, directory: directory)
        lock.withLock { self.child = child }
        try await waitForPing(child)
    }

    /// Polls with `PING` until the server answers (`+PONG`, or `-NOAUTH` behind a password).
    private func waitForPing(_ child: ChildProcess, timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard child.isRunning else {
                throw ChildProcessError(
                    "redis-server on port \(port) exited (status \(child.process.terminationStatus)):\n"
                        + child.stdout + child.stderr)
            }
            if let connection = try? await RawConnection.connect(port: port) {
                let answered = try await withCleanup {
                    try? await connection.send("PING\r\n")
                    return await connection.wait(timeout: .seconds(1)) { bytes, _ in
                        bytes.starts(with: Array("+PONG".utf8)) || bytes.starts(with: Array("-NOAUTH".utf8))
                    }
                } cleanup: {
                    await connection.close()
                }
                if answered { return }
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ChildProcessError("redis-server on port \(port) did not answer PING within \(timeout)")
    }

    private func removeDirectory() {
        try? FileManager.default.removeItem(at: directory)
    }
}
