import Testing

@testable import FerryProxy

/// The receive-window policy of the downstream HTTP/2 session: a WINDOW_UPDATE when the peer
/// has used half the target, bringing it back to the target.
@Suite("HTTP/2 receive window")
struct ReceiveWindowTests {
    @Test("nothing is granted before NIOHTTP2 reported a window, or while more than half is left")
    func noEarlyUpdates() {
        var window = ReceiveWindow(target: 65536)
        #expect(window.replenish() == nil)
        window.update(40000)
        #expect(window.replenish() == nil)
        window.update(32769)
        #expect(window.replenish() == nil)
    }

    @Test("at half the target or less, the update brings the window back to the target, once")
    func halfUsed() {
        var window = ReceiveWindow(target: 65536)
        window.update(32768)
        #expect(window.replenish() == 32768)
        #expect(window.window == 65536)
        #expect(window.replenish() == nil)
        window.update(0)
        #expect(window.replenish() == 65536)
    }

    @Test("a window driven below zero by a smaller SETTINGS_INITIAL_WINDOW_SIZE is made whole; increments fit 31 bits")
    func negativeAndLarge() {
        var small = ReceiveWindow(target: 65536)
        small.update(-1000)
        #expect(small.replenish() == 66536)
        var large = ReceiveWindow(target: Int(Int32.max))
        large.update(-10)
        #expect(large.replenish() == Int(Int32.max))
    }

    @Test("our SETTINGS taking effect moves a known window by the delta, and an unknown one not at all")
    func shift() {
        var unknown = ReceiveWindow(target: 1 << 20)
        unknown.shift(by: 1000)
        #expect(unknown.window == nil)
        var known = ReceiveWindow(target: 1 << 20)
        known.update(65535)
        known.shift(by: (1 << 20) - 65535)
        #expect(known.window == 1 << 20)
        #expect(known.replenish() == nil)
    }
}
