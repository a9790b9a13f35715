import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// Per-loop cache of wall-clock time: the `date` header text and a base for access-log
/// timestamps, refreshed once a second by the loop itself so requests never read the clock
/// more than the monotonic `NIODeadline.now()`.
final class WallClock: NIOScheduledCallbackHandler {
    private(set) var dateHeader = ""
    private var task: NIOScheduledCallback?
    private var stopped = false
    private var baseWallNanos: Int64 = 0
    private var baseMonotonic: UInt64 = 0

    init() { refresh() }

    /// Refreshes once a second on `loop` until stopped.
    func start(on loop: EventLoop) {
        refresh()
        task = try? loop.assumeIsolated().scheduleCallback(in: .seconds(1), handler: self)
    }

    func stop() {
        stopped = true
        task?.cancel()
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        guard !stopped else { return }
        refresh()
        task = try? eventLoop.assumeIsolated().scheduleCallback(in: .seconds(1), handler: self)
    }

    func refresh() {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        baseWallNanos = Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
        baseMonotonic = NIODeadline.now().uptimeNanoseconds
        dateHeader = Self.httpDate(seconds: Int64(ts.tv_sec))
    }

    /// Wall-clock nanoseconds for a monotonic instant.
    func wallNanos(at deadline: NIODeadline) -> Int64 {
        baseWallNanos + Int64(bitPattern: deadline.uptimeNanoseconds &- baseMonotonic)
    }

    static let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// IMF-fixdate, e.g. `Mon, 23 Nov 2026 04:13:33 GMT`.
    static func httpDate(seconds: Int64) -> String {
        let day = seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400
        let secs = seconds - day * 86400
        let (y, m, d) = civil(fromDays: day)
        let weekday = days[Int(((day % 7) + 7) % 7)]
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday), \(two(d)) \(months[Int(m) - 1]) \(y) \(two(secs / 3600)):\(two(secs % 3600 / 60)):\(two(secs % 60)) GMT"
    }

    /// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
