import NIOCore
import Testing

@testable import FerryProxy

@Suite("Reusable head buffer")
struct ReusableHeadBufferTests {
    /// Serializes `text` as a connection does (take, write, hand over, keep) and returns where
    /// its bytes were; the caller keeps no reference, as once the socket has taken them.
    static func send(_ text: String, with heads: inout ReusableHeadBuffer) -> UInt {
        var buffer = heads.next(minimumCapacity: 64)
        buffer.writeString(text)
        let address = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        heads.keep(buffer)
        return address
    }

    @Test("a head written once its predecessor is gone reuses its storage")
    func reuses() {
        var heads = ReusableHeadBuffer()
        let first = Self.send("HTTP/1.1 200 OK\r\n\r\n", with: &heads)
        // Takes the memory a dropped buffer would have freed, so equal addresses below mean
        // kept storage, not malloc handing the same block out again.
        let occupant = ByteBufferAllocator().buffer(capacity: 64)
        let second = Self.send("HTTP/1.1 204 No Content\r\n\r\n", with: &heads)
        withExtendedLifetime(occupant) { #expect(first == second) }
    }

    @Test("a head still in flight is left alone: the next one gets its own storage")
    func inFlight() {
        var heads = ReusableHeadBuffer()
        var pending = heads.next(minimumCapacity: 64)
        pending.writeString("GET /a HTTP/1.1\r\n\r\n")
        heads.keep(pending)
        var next = heads.next(minimumCapacity: 64)
        next.writeString("GET /b HTTP/1.1\r\n\r\n")
        #expect(String(buffer: pending) == "GET /a HTTP/1.1\r\n\r\n")
        #expect(String(buffer: next) == "GET /b HTTP/1.1\r\n\r\n")
    }

    @Test("a buffer grown past the keep limit is not kept")
    func dropsLarge() {
        var heads = ReusableHeadBuffer()
        _ = Self.send(String(repeating: "x", count: ReusableHeadBuffer.keepLimit + 1), with: &heads)
        #expect(heads.next(minimumCapacity: 64).capacity <= ReusableHeadBuffer.keepLimit)
        let kept = Self.send(String(repeating: "y", count: ReusableHeadBuffer.keepLimit - 100), with: &heads)
        #expect(Self.send("small", with: &heads) == kept)
    }
}
