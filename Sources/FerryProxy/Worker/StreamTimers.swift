import NIOCore

/// Stream timeouts for one worker without a scheduled task per request: active streams sit in
/// an array (O(1) insert and swap-remove), and one callback ticks every `resolution` while
/// any stream is registered, letting each stream check its own deadlines (route timeout,
/// request timeout, idle timeout). Timeouts therefore fire up to `resolution` late, and a busy
/// proxy pays one scan per tick instead of a heap insert and cancel per request.
final class StreamTimers: NIOScheduledCallbackHandler {
    static let resolution: TimeAmount = .milliseconds(10)

    private var streams: [ActiveStream] = []
    private var scheduled: NIOScheduledCallback?
    private unowned(unsafe) let loop: EventLoop
    /// Refreshes the worker's cached clock before streams look at it: a timeout that fires
    /// with no I/O in between must stamp the reply and the access log with the current time.
    var onTick: (() -> Void)?

    init(loop: EventLoop) { self.loop = loop }

    var count: Int { streams.count }

    func add(_ stream: ActiveStream) {
        guard stream.timerIndex < 0 else { return }
        stream.timerIndex = streams.count
        streams.append(stream)
        if scheduled == nil {
            scheduled = try? loop.assumeIsolated().scheduleCallback(in: Self.resolution, handler: self)
        }
    }

    func remove(_ stream: ActiveStream) {
        let index = stream.timerIndex
        guard index >= 0, index < streams.count, streams[index] === stream else { return }
        let last = streams.removeLast()
        if index < streams.count {
            streams[index] = last
            last.timerIndex = index
        }
        stream.timerIndex = -1
    }

    func handleScheduledCallback(eventLoop: some EventLoop) {
        scheduled = nil
        onTick?()
        let now = eventLoop.now
        // Iterate by index from the end: a stream that finishes removes itself (swap-remove).
        var i = streams.count - 1
        while i >= 0 {
            if i < streams.count { streams[i].checkTimers(now: now) }
            i -= 1
        }
        if !streams.isEmpty {
            scheduled = try? eventLoop.assumeIsolated().scheduleCallback(in: Self.resolution, handler: self)
        }
    }
}
