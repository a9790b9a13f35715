import FerryConfig
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why an access-log file could not be opened.
public struct AccessLogSinkError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var errno: Int32

    public var description: String {
        "cannot open access log \(path): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Where access-log lines go: a file (opened O_WRONLY|O_APPEND|O_CREAT, 0644), stdout or stderr.
///
/// `write` is called from every event loop and never touches the file: it appends to a memory
/// buffer under a lock. Each sink owns one background thread that writes the buffer out every
/// `flushInterval` (100 ms) or as soon as it passes `flushThreshold` (64 KiB). The buffer is
/// bounded by `bufferLimit` (8 MiB): a line that does not fit is dropped and counted in
/// `droppedLines`, so a slow or full disk costs log lines, never proxy memory or latency.
/// Lines are written whole and in the order `write` was called.
///
/// Share one sink per destination through `AccessLogSinks` so that several listeners appending
/// to one file do not interleave partial writes.
public final class AccessLogSink: Sendable {
    public let destination: AccessLog.Sink
    private let core: Core
    private let thread: WriterThread

    public init(_ destination: AccessLog.Sink, flushInterval: Duration = .milliseconds(100),
                flushThreshold: Int = 64 << 10, bufferLimit: Int = 8 << 20) throws(AccessLogSinkError) {
        self.destination = destination
        let fd: Int32
        switch destination {
        case .file(let path): fd = try Self.open(path)
        case .stdout: fd = STDOUT_FILENO
        case .stderr: fd = STDERR_FILENO
        }
        let core = Core(fd: fd, flushThreshold: flushThreshold, bufferLimit: bufferLimit)
        self.core = core
        // The thread holds the core, not the sink, so an abandoned sink still deinits and stops it.
        thread = WriterThread { core.runWriter(every: flushInterval) }
    }

    deinit { close() }

    /// Queues one complete line (the formatter's output, newline included). Never blocks on I/O.
    public func write(_ line: [UInt8]) {
        core.append(line)
    }

    /// Lines dropped because the buffer was full, the sink was closed, or the write failed.
    public var droppedLines: UInt64 { core.buffer.withLock { $0.dropped } }

    /// Writes out everything queued so far before returning (shutdown, tests).
    public func flush() {
        core.output.withLock { core.drain(&$0) }
    }

    /// Writes out what is queued to the current file, then closes and reopens the path, so lines
    /// queued from now on land in a new file after a rotation. Blocks for the open(2). A no-op for
    /// stdout, stderr and a closed sink; when the open fails the old file stays in use.
    public func reopen() throws(AccessLogSinkError) {
        guard case .file(let path) = destination else { return }
        try core.output.withLock { output throws(AccessLogSinkError) in
            guard !output.closed else { return }
            core.drain(&output)
            let fd = try Self.open(path)
            Self.closeDescriptor(output.fd)
            output.fd = fd
        }
    }

    /// Flushes, stops the writer thread and closes the file. Later writes are dropped and counted.
    /// Idempotent.
    public func close() {
        guard core.buffer.withLock({ buffer in
            defer { buffer.closed = true }
            return !buffer.closed
        }) else { return }
        core.wakeup.signal()
        thread.join()
        core.output.withLock { output in
            core.drain(&output)
            if case .file = destination { Self.closeDescriptor(output.fd) }
            output.closed = true
        }
    }

    private static func open(_ path: String) throws(AccessLogSinkError) -> Int32 {
        while true {
            let fd = path.withCString { SystemCall.open($0, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644) }
            if fd >= 0 { return fd }
            let code = errno
            if code != EINTR { throw AccessLogSinkError(path: path, errno: code) }
        }
    }

    private static func closeDescriptor(_ fd: Int32) {
        if fd > STDERR_FILENO { _ = SystemCall.close(fd) }
    }
}

/// The state shared by the callers of `write` and the writer thread.
private final class Core: Sendable {
    struct Buffer {
        var bytes: [UInt8] = []
        var dropped: UInt64 = 0
        var wakeRequested = false
        var closed = false
    }

    struct Output {
        var fd: Int32
        /// The previous batch's storage, reused so steady-state flushing does not allocate.
        var spare: [UInt8] = []
        var closed = false
    }

    /// Taken by every `write`: held only to append bytes.
    let buffer = Mutex(Buffer())
    /// Taken by whoever writes to the file (writer thread, flush, reopen): it orders batches, and
    /// `write` never waits on it.
    let output: Mutex<Output>
    let wakeup = Wakeup()
    let flushThreshold: Int
    let bufferLimit: Int

    init(fd: Int32, flushThreshold: Int, bufferLimit: Int) {
        output = Mutex(Output(fd: fd))
        self.flushThreshold = flushThreshold
        self.bufferLimit = bufferLimit
    }

    func append(_ line: [UInt8]) {
        let wake = buffer.withLock { buffer -> Bool in
            guard !buffer.closed, buffer.bytes.count + line.count <= bufferLimit else {
                buffer.dropped += 1
                return false
            }
            buffer.bytes.append(contentsOf: line)
            guard buffer.bytes.count >= flushThreshold, !buffer.wakeRequested else { return false }
            buffer.wakeRequested = true
            return true
        }
        if wake { wakeup.signal() }
    }

    func runWriter(every interval: Duration) {
        while true {
            wakeup.wait(timeout: interval)
            let closing = buffer.withLock { $0.closed }
            output.withLock { drain(&$0) }
            if closing { return }
        }
    }

    /// Takes the queued bytes and writes them; the caller holds `output`.
    func drain(_ output: inout Output) {
        var batch: [UInt8] = []
        swap(&batch, &output.spare)
        batch.removeAll(keepingCapacity: true)
        buffer.withLock { buffer in
            swap(&batch, &buffer.bytes)
            buffer.wakeRequested = false
        }
        guard !batch.isEmpty else { return }
        let unwritten = output.closed ? batch.count : Self.writeAll(output.fd, batch)
        if unwritten > 0 {
            let lost = batch.suffix(unwritten).reduce(into: UInt64(0)) { if $1 == UInt8(ascii: "\n") { $0 += 1 } }
            buffer.withLock { $0.dropped += max(lost, 1) }
        }
        if batch.capacity <= 1 << 20 { output.spare = batch }  // do not pin a burst's memory
    }

    /// Writes all of `bytes`, resuming after EINTR and partial writes and waiting (up to ~5 s)
    /// when a non-blocking stdout is full. Returns how many bytes could not be written.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            var waits = 0
            while offset < raw.count {
                let n = SystemCall.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n > 0 {
                    offset += n
                } else if n < 0, errno == EINTR {
                    continue
                } else if n < 0, errno == EAGAIN || errno == EWOULDBLOCK, waits < 50 {
                    waits += 1
                    var target = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&target, 1, 100)
                } else {
                    return raw.count - offset
                }
            }
            return 0
        }
    }
}

/// Lets the writer thread sleep until its next flush or until a caller asks for one early.
/// Waits on CLOCK_MONOTONIC where the platform allows, so a wall-clock jump cannot stall flushing.
private final class Wakeup: @unchecked Sendable {
    // The pthread objects need stable addresses; every access to `signaled` holds `mutex`.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var signaled = false

    init() {
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        #if os(Linux)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        #endif
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    func signal() {
        pthread_mutex_lock(mutex)
        signaled = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
    }

    func wait(timeout: Duration) {
        var deadline = timespec()
        #if os(Linux)
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        #else
        clock_gettime(CLOCK_REALTIME, &deadline)
        #endif
        let (seconds, attoseconds) = timeout.components
        let nanos = Int(deadline.tv_nsec) + Int(attoseconds / 1_000_000_000)
        deadline.tv_sec += Int(seconds) + nanos / 1_000_000_000
        deadline.tv_nsec = nanos % 1_000_000_000
        pthread_mutex_lock(mutex)
        while !signaled {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        signaled = false
        pthread_mutex_unlock(mutex)
    }
}

/// The libc calls whose names the sink's own methods shadow.
private enum SystemCall {
    #if canImport(Glibc)
    static func open(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 {
        Glibc.open(path, flags, mode)
    }
    static func write(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { Glibc.write(fd, bytes, count) }
    static func close(_ fd: Int32) -> Int32 { Glibc.close(fd) }
    #else
    static func open(_ path: UnsafePointer<CChar>, _ flags: Int32, _ mode: mode_t) -> Int32 {
        Darwin.open(path, flags, mode)
    }
    static func write(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { Darwin.write(fd, bytes, count) }
    static func close(_ fd: Int32) -> Int32 { Darwin.close(fd) }
    #endif
}

/// A joinable POSIX thread running one closure (the sink's writer loop).
/// `@unchecked`: `pthread_t` is a plain integer on Linux but a pointer type on Darwin.
private final class WriterThread: @unchecked Sendable {
    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private let id: pthread_t

    init(_ run: @escaping @Sendable () -> Void) {
        let body = Unmanaged.passRetained(Body(run)).toOpaque()
        #if canImport(Darwin)
        var id: pthread_t?
        #else
        var id = pthread_t()
        #endif
        let result = pthread_create(&id, nil, { raw in
            Unmanaged<Body>.fromOpaque(WriterThread.unwrap(raw)).takeRetainedValue().run()
            return nil
        }, body)
        precondition(result == 0, "cannot start the access log writer thread: errno \(result)")
        #if canImport(Darwin)
        self.id = id!
        #else
        self.id = id
        #endif
    }

    func join() {
        _ = pthread_join(id, nil)
    }

    // The start routine's argument is optional on Glibc and not on Darwin.
    private static func unwrap(_ pointer: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer { pointer! }
}
