import CFerrySystem
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with posix_spawn. The test kit does not use Foundation's `Process`:
/// on this toolchain (Swift 6.3.1) its `run()` intermittently crashes reading past a buffer
/// while it scans /proc/self/fd (swift-corelibs-foundation#5472, fixed after 6.3.1), which took
/// the whole test run down about once in three runs.
public final class Spawned: @unchecked Sendable {
    public let pid: pid_t
    private let lock = NSLock()
    private var rawStatus: Int32?

    /// Starts `executable` with `arguments`, stdin/stdout/stderr on the given descriptors
    /// (the caller keeps and closes its copies). Every other descriptor is closed in the child.
    public init(_ executable: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32) throws {
        let argv = ([executable] + arguments).map { strdup($0) }
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = (argv + [nil]).withUnsafeBufferPointer { pointers in
            ferry_spawn(&pid, executable, pointers.baseAddress, stdin, stdout, stderr)
        }
        guard rc == 0 else { throw ChildProcessError("cannot start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    /// Reaps the child if it has exited; true while it runs.
    public var isRunning: Bool {
        lock.withLock {
            if rawStatus != nil { return false }
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno == ECHILD) {
                rawStatus = r == pid ? status : 0
                return false
            }
            return true
        }
    }

    /// Blocks until the child exits.
    public func waitUntilExit() {
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, 0)
            if r == pid { break }
            if r < 0 && errno != EINTR {
                status = 0
                break
            }
        }
        lock.withLock { if rawStatus == nil { rawStatus = status } }
    }

    /// The exit status, or 128 + the signal that ended the child (as a shell reports it).
    public var terminationStatus: Int32 {
        guard let status = lock.withLock({ rawStatus }) else { return -1 }
        return exited(status) ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// True when the child exited by itself, not by a signal.
    public var exitedNormally: Bool {
        guard let status = lock.withLock({ rawStatus }) else { return false }
        return exited(status)
    }

    private func exited(_ status: Int32) -> Bool { status & 0x7F == 0 }

    public func signal(_ signal: Int32) {
        if isRunning { kill(pid, signal) }
    }

    /// Runs `executable` to completion and returns its status and output (read concurrently,
    /// so neither pipe can fill up and stall the child).
    public static func capture(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: Data, stderr: Data) {
        var out = try PipePair(), err = try PipePair()
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(null) }
        let child = try Spawned(executable, arguments, stdin: null, stdout: out.write, stderr: err.write)
        out.closeWrite()
        err.closeWrite()
        let errData = PipeReader(err.read)
        let outData = FileHandle(fileDescriptor: out.read, closeOnDealloc: true).readDataToEndOfFile()
        child.waitUntilExit()
        return (child.terminationStatus, outData, errData.wait())
    }
}

/// A pipe whose ends are close-on-exec (a child gets its end through dup2).
struct PipePair {
    let read: Int32
    private(set) var write: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw ChildProcessError("pipe failed: errno \(errno)") }
        // Children started elsewhere must not inherit these (ours close everything above 2).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        read = fds[0]
        write = fds[1]
    }

    mutating func closeWrite() {
        close(write)
        write = -1
    }
}

/// Reads a descriptor to its end on a separate thread, then closes it.
final class PipeReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ fd: Int32) {
        let thread = Thread { [self] in
            data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
            done.signal()
        }
        thread.start()
    }

    func wait() -> Data {
        done.wait()
        return data
    }
}
