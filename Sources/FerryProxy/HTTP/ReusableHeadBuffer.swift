import NIOCore

/// The buffer a connection serializes its HTTP/1 heads into, reused from one head to the next.
///
/// A fresh `ByteBuffer` per head costs two `malloc`s (the storage object and its bytes). Once
/// the socket has taken the previous head, SwiftNIO holds no reference to its buffer any more,
/// so clearing it for the next head allocates nothing; a head still in flight (pipelined
/// responses, a full socket) makes `clear` allocate, as a fresh buffer would. A buffer that grew
/// past `keepLimit` (a huge head, or a response body coalesced into it) is not kept, so a
/// connection holds at most that much between requests.
struct ReusableHeadBuffer {
    static let keepLimit = 8 * 1024
    private var kept: ByteBuffer?

    /// An empty buffer of at least `minimumCapacity` bytes: the kept one when there is one.
    mutating func next(minimumCapacity: Int) -> ByteBuffer {
        guard var buffer = kept.take() else { return ByteBufferAllocator.shared.buffer(capacity: minimumCapacity) }
        buffer.clear(minimumCapacity: minimumCapacity)
        return buffer
    }

    /// Keeps `buffer`, just handed to `context.write`, for the next head.
    mutating func keep(_ buffer: ByteBuffer) {
        if buffer.capacity <= Self.keepLimit { kept = buffer }
    }
}
