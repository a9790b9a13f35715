import FerryPolicy
import NIOCore

/// Paces one response body to `response_rate_limit` (Envoy's `StreamRateLimiter`): the fault
/// filter holds every body chunk and the end (`StreamFilter.holdBody`); a wake-up hands on
/// what the token bucket grants, every 50 ms while bytes remain, then the end. Holding more
/// than the listener's `per_connection_buffer_limit_bytes` stops the upstream until it is back
/// under half of that (Envoy's watermarks); a client that cannot take more is waited for.
final class FaultResponsePacer {
    private var limiter: StreamRateLimiter
    private var held = CircularBuffer<ByteBuffer>()
    private var heldBytes = 0
    /// The response's end arrived while body was held; it goes after the last byte.
    private var endHeld = false
    private var trailers: HeaderMap?
    private var wakeArmed = false
    private var upstreamPaused = false
    private let bufferLimit: Int

    init(kibPerSecond: UInt64, now: NIODeadline, bufferLimit: Int) {
        limiter = StreamRateLimiter(kibPerSecond: kibPerSecond, now: Int64(now.uptimeNanoseconds))
        self.bufferLimit = max(1, bufferLimit)
    }

    func hold(_ part: BodyPart, stream: ActiveStream, filter: StreamFilter) -> Bool {
        switch part {
        case .data(let data):
            held.append(data)
            heldBytes += data.readableBytes
            if heldBytes > bufferLimit && !upstreamPaused {
                upstreamPaused = true
                stream.pauseResponseBody()
            }
            // As Envoy: the first grant goes out right after the current event.
            arm(stream, filter, after: .zero)
            return true
        case .end(let trailers):
            guard heldBytes > 0 || wakeArmed else { return false }
            endHeld = true
            self.trailers = trailers
            return true
        }
    }

    private func arm(_ stream: ActiveStream, _ filter: StreamFilter, after delay: TimeAmount) {
        guard !wakeArmed else { return }
        wakeArmed = true
        stream.wake(after: delay) { [unowned stream, self] in self.send(stream, filter) }
    }

    private func send(_ stream: ActiveStream, _ filter: StreamFilter) {
        wakeArmed = false
        let interval = TimeAmount.nanoseconds(StreamRateLimiter.fillIntervalNanoseconds)
        guard stream.encoder.isWritable else { return arm(stream, filter, after: interval) }
        var grant = limiter.take(upTo: heldBytes, now: Int64(stream.worker.loop.now.uptimeNanoseconds))
        heldBytes -= grant
        var parts: [ByteBuffer] = []
        while grant > 0, var first = held.first {
            if first.readableBytes <= grant {
                grant -= first.readableBytes
                parts.append(held.removeFirst())
            } else {
                parts.append(first.readSlice(length: grant)!)
                held[held.startIndex] = first
                grant = 0
            }
        }
        if heldBytes > 0 { arm(stream, filter, after: interval) }
        if upstreamPaused && heldBytes < bufferLimit / 2 {
            upstreamPaused = false
            stream.resumeResponseBody()
        }
        for part in parts {
            stream.releaseBody(.data(part), from: filter)
            if stream.finished { return }
        }
        if heldBytes == 0 && endHeld {
            endHeld = false
            stream.releaseBody(.end(trailers: trailers), from: filter)
        }
    }
}
