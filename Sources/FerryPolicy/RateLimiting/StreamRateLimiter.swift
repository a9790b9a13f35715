/// The arithmetic of Envoy's `StreamRateLimiter` (fault filter `response_rate_limit`): a token
/// bucket of bytes that holds at most one second's worth and refills continuously at the rate,
/// starting with one fill interval's worth (50 ms), so a paced body starts with a small burst
/// and then flows at the rate. The caller sends what `take` grants and, while bytes remain,
/// asks again after `fillInterval`. Time is passed in.
///
///     var limiter = StreamRateLimiter(kibPerSecond: 32, now: start)
///     let granted = limiter.take(upTo: held, now: start)   // 1,638 bytes: 50 ms at 32 KiB/s
public struct StreamRateLimiter: Sendable {
    /// How often a limited stream is given more bytes (Envoy's `DefaultFillInterval`).
    public static let fillIntervalNanoseconds: Int64 = 50_000_000

    /// The rate and the bucket's size, in bytes.
    public let bytesPerSecond: Double
    private var tokens: Double
    private var lastFill: Int64

    /// `now` in nanoseconds on any monotonic clock.
    public init(kibPerSecond: UInt64, now: Int64) {
        bytesPerSecond = Double(kibPerSecond) * 1024
        tokens = (bytesPerSecond * Double(Self.fillIntervalNanoseconds) / 1e9).rounded(.down)
        lastFill = now
    }

    /// Grants up to `wanted` bytes (whole tokens only) and takes them from the bucket.
    public mutating func take(upTo wanted: Int, now: Int64) -> Int {
        if tokens < bytesPerSecond {
            let elapsed = Double(max(0, now - lastFill)) / 1e9
            tokens = min(tokens + elapsed * bytesPerSecond, bytesPerSecond)
            lastFill = now
        }
        let granted = min(Double(max(0, wanted)), tokens.rounded(.down))
        tokens -= granted
        return Int(granted)
    }
}
