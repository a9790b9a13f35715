import NIOCore
import Testing

@testable import FerryProxy

@Suite("Redis client helpers")
struct RedisHelperTests {
    @Test("SHA-1 matches the standard test vectors (Redis names scripts by it)")
    func sha1() {
        #expect(SHA1.hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hex(String(repeating: "a", count: 1000)) == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

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
