#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback port where TCP connects neither succeed nor fail, for connect timeout tests.
///
/// It listens with a backlog of 0 and never accepts; the first connection fills the accept
/// queue, and Linux then drops further SYNs (with `tcp_abort_on_overflow` = 0, the default), so
/// a client's connect hangs until its own timeout. `isBlackholing` says whether a probe connect
/// really went unanswered for 300 ms; a test should check it before relying on the port.
public final class BlackholeListener: Sendable {
    public let port: Int
    public let isBlackholing: Bool
    private let descriptors: [Int32]

    private init(port: Int, isBlackholing: Bool, descriptors: [Int32]) {
        self.port = port
        self.isBlackholing = isBlackholing
        self.descriptors = descriptors
    }

    public static func start() -> BlackholeListener? {
        #if os(Linux)
        let stream = Int32(SOCK_STREAM.rawValue)
        #else
        let stream = SOCK_STREAM
        #endif
        let listener = socket(AF_INET, stream, 0)
        guard listener >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else {
            close(listener)
            return nil
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        var descriptors = [listener]
        // Connect until one connect goes unanswered: the earlier ones filled the accept queue.
        for _ in 0..<4 {
            let (fd, connected) = connectProbe(address: address, stream: stream)
            guard fd >= 0 else { break }
            if connected {
                descriptors.append(fd)
                continue
            }
            close(fd)
            return BlackholeListener(port: port, isBlackholing: true, descriptors: descriptors)
        }
        return BlackholeListener(port: port, isBlackholing: false, descriptors: descriptors)
    }

    /// A non-blocking connect; whether it completed within 300 ms.
    private static func connectProbe(address: sockaddr_in, stream: Int32) -> (Int32, Bool) {
        let fd = socket(AF_INET, stream, 0)
        guard fd >= 0 else { return (-1, false) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var target = address
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result == 0 { return (fd, true) }
        guard errno == EINPROGRESS else { return (fd, true) }
        var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let ready = poll(&poller, 1, 300)
        return (fd, ready > 0)
    }

    public func stop() {
        for fd in descriptors { close(fd) }
    }
}
