/// `envoy.config.core.v3.Http2ProtocolOptions`: the HTTP/2 codec's settings and flood limits,
/// with Envoy's defaults. Fields Ferry's codec cannot honour are left unread, so validation
/// names them as not supported.
public struct Http2ProtocolOptions: Sendable, Equatable {
    /// SETTINGS_HEADER_TABLE_SIZE advertised to the peer (Envoy default 4096).
    public var hpackTableSize: UInt32 = 4096
    /// SETTINGS_MAX_CONCURRENT_STREAMS (Envoy default 2^31 - 1).
    public var maxConcurrentStreams: UInt32 = 2_147_483_647
    /// Per-stream receive window, also the most a stream buffers (Envoy default 256 MiB).
    public var initialStreamWindowSize: UInt32 = 268_435_456
    /// Connection receive window (Envoy default 256 MiB).
    public var initialConnectionWindowSize: UInt32 = 268_435_456
    /// Outbound control frames (PING and SETTINGS acks, RST_STREAM) that may wait before the
    /// connection is closed as a flood (Envoy default 1000).
    public var maxOutboundControlFrames: UInt32 = 1000
    /// Outbound frames of every type that may wait for the socket before the connection is
    /// closed as a flood (Envoy default 10000).
    public var maxOutboundFrames: UInt32 = 10000
    /// PRIORITY frames allowed per opened stream, plus one stream's worth (Envoy default 100).
    public var maxInboundPriorityFramesPerStream: UInt32 = 100
    /// WINDOW_UPDATE frames allowed per DATA frame sent (Envoy default 10).
    public var maxInboundWindowUpdateFramesPerDataFrameSent: UInt32 = 10
    /// Consecutive inbound frames with an empty payload and no end of stream before the
    /// connection is closed as a flood (Envoy default 1).
    public var maxConsecutiveInboundFramesWithEmptyPayload: UInt32 = 1
    /// `connection_keepalive`: PING every `interval`; no answer within `timeout` closes the connection.
    public var keepalive: Keepalive?

    public struct Keepalive: Sendable, Equatable {
        public var interval: Duration
        public var timeout: Duration
        /// `interval_jitter`: up to this percentage of `interval` is added at random to each
        /// interval (Envoy's default 15), so PINGs of many connections do not line up.
        public var jitterPercent: Double = 15

        public init(interval: Duration, timeout: Duration, jitterPercent: Double = 15) {
            self.interval = interval
            self.timeout = timeout
            self.jitterPercent = jitterPercent
        }

        /// The time until the next PING: `interval` plus its random jitter.
        public func nextInterval<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
            interval + interval * (jitterPercent / 100 * Double.random(in: 0...1, using: &generator))
        }

        public func nextInterval() -> Duration {
            var generator = SystemRandomNumberGenerator()
            return nextInterval(using: &generator)
        }
    }

    public init() {}

    static let windowRange: ClosedRange<Int64> = 65535...2_147_483_647

    /// Decodes the message at `r` (finishes it).
    public static func decode(_ r: ObjectReader) -> Http2ProtocolOptions {
        defer { r.finish() }
        var options = Http2ProtocolOptions()
        if let size = r.uint32("hpack_table_size") { options.hpackTableSize = size }
        if let streams = r.uint32("max_concurrent_streams", in: 1...2_147_483_647) { options.maxConcurrentStreams = streams }
        if let window = r.uint32("initial_stream_window_size", in: windowRange,
                                 fix: "use a size from 65535 to 2147483647 bytes") { options.initialStreamWindowSize = window }
        if let window = r.uint32("initial_connection_window_size", in: windowRange,
                                 fix: "use a size from 65535 to 2147483647 bytes") { options.initialConnectionWindowSize = window }
        if let frames = r.uint32("max_outbound_control_frames", in: 1...Int64(UInt32.max)) { options.maxOutboundControlFrames = frames }
        if let frames = r.uint32("max_outbound_frames", in: 1...Int64(UInt32.max)) { options.maxOutboundFrames = frames }
        if let frames = r.uint32("max_inbound_priority_frames_per_stream") { options.maxInboundPriorityFramesPerStream = frames }
        if let frames = r.uint32("max_inbound_window_update_frames_per_data_frame_sent", in: 1...Int64(UInt32.max)) {
            options.maxInboundWindowUpdateFramesPerDataFrameSent = frames
        }
        if let frames = r.uint32("max_consecutive_inbound_frames_with_empty_payload") {
            options.maxConsecutiveInboundFramesWithEmptyPayload = frames
        }
        if r.bool("allow_connect") == true {
            r.diagnostics.error(r.valueLocation(of: "allow_connect"), r.join("allow_connect"),
                                "Http2ProtocolOptions.allow_connect (CONNECT over HTTP/2) is not supported yet by Ferry",
                                fix: "remove it or set it to false")
        }
        if let keepalive = r.object("connection_keepalive", "envoy.config.core.v3.KeepaliveSettings") {
            defer { keepalive.finish() }
            let interval = keepalive.duration("interval", positive: true)
            let timeout = keepalive.duration("timeout", positive: true)
            if interval == nil && !keepalive.has("interval") {
                r.diagnostics.error(keepalive.node.location, keepalive.join("interval"), "KeepaliveSettings needs an interval",
                                    fix: "add `interval: 30s` (how often to send a PING)")
            }
            if timeout == nil && !keepalive.has("timeout") {
                r.diagnostics.error(keepalive.node.location, keepalive.join("timeout"), "KeepaliveSettings needs a timeout",
                                    fix: "add `timeout: 5s` (how long to wait for the PING's answer)")
            }
            var jitter = 15.0
            if let percent = keepalive.object("interval_jitter", "envoy.type.v3.Percent") {
                defer { percent.finish() }
                jitter = percent.double("value", in: 0...100, fix: "use a percentage between 0 and 100, e.g. `interval_jitter: {value: 15}`") ?? jitter
            }
            if let interval, let timeout { options.keepalive = Keepalive(interval: interval, timeout: timeout, jitterPercent: jitter) }
        }
        return options
    }
}
