import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for tests that launch processes while other
/// tests launch theirs: Foundation's `Process.run` is not safe to call from two threads at
/// once (see `Curl.perform`), and `posix_spawn` is. Output goes to files in a private
/// temporary directory; every wait has a deadline; `stop()` sends SIGTERM, then SIGKILL.
///
/// Invariant: a process started with `with(...)` or `run(...)` has exited and been reaped
/// before they return or throw.
public final class SpawnedProcess: @unchecked Sendable {
    public let pid: pid_t
    public let directory: URL
    let stdoutPath: String
    let stderrPath: String
    private let lock = NSLock()
    private var exitStatus: Int32?

    /// What the child printed so far.
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    init(pid: pid_t, directory: URL, stdoutPath: String, stderrPath: String) {
        self.pid = pid
        self.directory = directory
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
    }

    /// Starts `executable` with `arguments`; stdin is /dev/null.
    public static func start(_ executable: String, _ arguments: [String]) throws -> SpawnedProcess {
        let directory = try TemporaryDirectory.make(prefix: "spawn")
        let out = directory.appendingPathComponent("stdout.txt").path
        let err = directory.appendingPathComponent("stderr.txt").path
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Nothing else of the test process: an inherited socket would outlive its close in the
        // parent (NIO's sockets are not close-on-exec) for as long as the child runs.
        guard let closeFrom = closeFrom, closeFrom(&actions, 3) == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw ChildProcessError("posix_spawn_file_actions_addclosefrom_np is unavailable (glibc 2.34+ needed)")
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard result == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw ChildProcessError("posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }
        return SpawnedProcess(pid: pid, directory: directory, stdoutPath: out, stderrPath: err)
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module
    /// does not export.
    private static let closeFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else { return nil }
        return unsafeBitCast(
            symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// The exit status (128 + signal for a signal), reaping the child once it has exited.
    public var status: Int32? {
        lock.withLock {
            if exitStatus == nil {
                var raw: Int32 = 0
                if waitpid(pid, &raw, WNOHANG) == pid {
                    let signal = raw & 0x7F
                    exitStatus = signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
                }
            }
            return exitStatus
        }
    }

    public var isRunning: Bool { status == nil }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// The exit status once the child has exited, or nil when `timeout` seconds pass first.
    public func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let status { return status }
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// SIGTERM, up to `grace` seconds to exit, then SIGKILL. Returns the exit status.
    @discardableResult
    public func stop(grace: Double = 5) async -> Int32 {
        signal(SIGTERM)
        if let status = await waitForExit(timeout: grace) { return status }
        signal(SIGKILL)
        return await waitForExit(timeout: 10) ?? -1
    }

    /// Starts a child, runs `body`, stops the child and removes its directory whatever happens.
    public static func with<T>(_ executable: String, _ arguments: [String], _ body: (SpawnedProcess) async throws -> T)
        async throws -> T
    {
        let child = try start(executable, arguments)
        defer { try? FileManager.default.removeItem(at: child.directory) }
        do {
            let result = try await body(child)
            await child.stop()
            return result
        } catch {
            await child.stop()
            throw error
        }
    }

    /// Runs a child to completion; one still running after `timeout` seconds is killed and
    /// reported with `timedOut`.
    public static func run(_ executable: String, _ arguments: [String], timeout: Double) async throws
        -> ChildProcess.Finished
    {
        try await with(executable, arguments) { child in
            let status = await child.waitForExit(timeout: timeout)
            return ChildProcess.Finished(
                status: status ?? -1, timedOut: status == nil, stdout: child.stdout, stderr: child.stderr)
        }
    }
}
