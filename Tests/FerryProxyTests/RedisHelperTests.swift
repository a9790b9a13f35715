import NIOCore
import Testing

@testable import FerryProxy

@Suite("Redis client helpers")
struct RedisHelperTests {
    @Test("reconnect delays double from the base up to the cap, half of each step fixed, half random")
    func backoff() {
        var backoff = RedisReconnectBackoff(base: .milliseconds(50), cap: .seconds(1))
        let none: (Int64) -> Int64 = { _ in 0 }
        let all: (Int64) -> Int64 = { $0 }
        #expect(backoff.next(random: all) == .milliseconds(50))
        #expect(backoff.next(random: none) == .milliseconds(50))
        #expect(backoff.next(random: all) == .milliseconds(200))
        for _ in 0..<40 { _ = backoff.next(random: none) }
        #expect(backoff.next(random: all) == .seconds(1))
        #expect(backoff.next(random: none) == .milliseconds(500))
        backoff.reset()
        #expect(backoff.next(random: all) == .milliseconds(50))
    }
}
