#if canImport(Glibc)
import Glibc
#endif

/// Loopback ports for tests that must name a port before anything listens on it.
public enum FreePort {
    /// A port the kernel just handed out for 127.0.0.1 and that is closed again, so nothing
    /// listens on it until someone binds it (which may be another test: for a port that must
    /// refuse connections, use `dead()`).
    public static func pick() throws -> Int {
        let (fd, port) = try bindLoopback()
        close(fd)
        return port
    }

    /// A port on which connections are refused for the rest of the test run: the socket stays
    /// bound without listening, so the kernel answers SYNs with RST and hands the port to no one
    /// else.
    public static func dead() throws -> Int {
        let (fd, port) = try bindLoopback()
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return port  // fd deliberately kept open
    }

    /// A port for a Ferry listener that the test must name before the proxy starts (a cluster
    /// pointing back at it): held bound with SO_REUSEPORT for the rest of the run, so Ferry's
    /// listener (which sets SO_REUSEPORT too) can bind it and no other test is handed it.
    public static func reservedForListener() throws -> Int {
        let (fd, port) = try bindLoopback(reusePort: true)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return port  // fd deliberately kept open
    }

    private static func bindLoopback(reusePort: Bool = false) throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ChildProcessError("socket() failed: errno \(errno)") }
        if reusePort {
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa -> Bool in
                bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw ChildProcessError("bind to 127.0.0.1:0 failed: errno \(errno)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}
