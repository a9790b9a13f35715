import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process for integration tests (the `ferry` binary, Envoy, promtool). Its output goes
/// to files in a private temporary directory, so a chatty child never blocks on a full pipe;
/// every wait is bounded by a deadline; `stop()` ends it with SIGTERM and then SIGKILL.
///
/// Invariant: a process started with `with(...)` is stopped before `with` returns or throws.
public final class ChildProcess: @unchecked Sendable {
    public let process: Spawned
    public let directory: URL
    let stdoutURL: URL
    let stderrURL: URL

    /// What the child printed so far.
    public var stdout: String { (try? String(contentsOf: stdoutURL, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }
    public var pid: Int32 { process.pid }
    public var isRunning: Bool { process.isRunning }
    /// True when the child exited by itself (not by an uncaught signal).
    public var exitedNormally: Bool { !process.isRunning && process.exitedNormally }

    /// Starts `executable` with `arguments`; `stdin` (if any) is written and closed at once.
    public static func start(_ executable: String, _ arguments: [String], stdin: Data? = nil,
                             directory: URL? = nil) throws -> ChildProcess {
        let dir = try directory ?? TemporaryDirectory.make(prefix: "child")
        let tag = UUID().uuidString.prefix(8)
        let stdoutURL = dir.appendingPathComponent("stdout-\(tag).txt")
        let stderrURL = dir.appendingPathComponent("stderr-\(tag).txt")
        let flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC
        let outFD = open(stdoutURL.path, flags, 0o644), errFD = open(stderrURL.path, flags, 0o644)
        defer {
            close(outFD)
            close(errFD)
        }
        guard outFD >= 0, errFD >= 0 else { throw ChildProcessError("cannot create output files in \(dir.path)") }
        var input = try PipePair()
        let process: Spawned
        do {
            process = try Spawned(executable, arguments, stdin: input.read, stdout: outFD, stderr: errFD)
        } catch {
            close(input.read)
            input.closeWrite()
            throw error
        }
        close(input.read)
        let writer = FileHandle(fileDescriptor: input.write, closeOnDealloc: true)
        if let stdin { try? writer.write(contentsOf: stdin) }
        try? writer.close()
        return ChildProcess(process: process, directory: dir, stdoutURL: stdoutURL, stderrURL: stderrURL)
    }

    init(process: Spawned, directory: URL, stdoutURL: URL, stderrURL: URL) {
        self.process = process
        self.directory = directory
        self.stdoutURL = stdoutURL
        self.stderrURL = stderrURL
    }

    /// Starts a child, runs `body`, and stops the child whether `body` returns or throws. The
    /// output directory is removed afterwards unless the caller supplied it.
    public static func with<T>(_ executable: String, _ arguments: [String], stdin: Data? = nil, directory: URL? = nil,
                               _ body: (ChildProcess) async throws -> T) async throws -> T {
        let child = try start(executable, arguments, stdin: stdin, directory: directory)
        defer { if directory == nil { try? FileManager.default.removeItem(at: child.directory) } }
        do {
            let result = try await body(child)
            await child.stop()
            return result
        } catch {
            await child.stop()
            throw error
        }
    }

    /// Runs a child to completion; a child still running after `timeout` seconds is killed and
    /// reported with `timedOut`.
    public static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil,
                           timeout: Double = 30) async throws -> Finished {
        try await with(executable, arguments, stdin: stdin) { child in
            let status = await child.waitForExit(timeout: timeout)
            return Finished(status: status ?? -1, timedOut: status == nil, stdout: child.stdout, stderr: child.stderr)
        }
    }

    public struct Finished: Sendable {
        public var status: Int32
        public var timedOut: Bool
        public var stdout: String
        public var stderr: String
    }

    /// The exit status once the child has exited, or nil when `timeout` seconds pass first.
    public func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// The first executable called `name` on PATH.
    public static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Sends `signal` to the child.
    public func signal(_ signal: Int32) { process.signal(signal) }

    /// SIGTERM, up to `grace` seconds to exit, then SIGKILL. Returns the exit status.
    @discardableResult
    public func stop(grace: Double = 5) async -> Int32 {
        signal(SIGTERM)
        if let status = await waitForExit(timeout: grace) { return status }
        signal(SIGKILL)
        return await waitForExit(timeout: 10) ?? -1
    }
}

public struct ChildProcessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Private temporary directories for test files (configs, logs, child output).
public enum TemporaryDirectory {
    public static func make(prefix: String) throws -> URL {
        let name = "ferry-\(prefix)-\(UUID().uuidString.prefix(12))"
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
