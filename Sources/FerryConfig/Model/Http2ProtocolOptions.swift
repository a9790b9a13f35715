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
    /// `allow_connect`: RFC 8441 extended CONNECT, i.e. WebSocket over HTTP/2. A listener
    /// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL and takes it; a cluster sends upgrades with it.
    public var allowConnect = false
    /// Consecutive inbound frames with an empty payload and no end of stream before the
    /// connection is closed as a flood (Envoy default 1).
    public var maxConsecutiveInboundFramesWithEmptyPayload: UInt32 = 1
    /// `override_stream_error_on_invalid_http_message`, else the connection manager's
    /// `stream_error_on_invalid_http_message`, else the deprecated
    /// `stream_error_on_invalid_http_messaging`: a malformed request resets only its stream
    /// (RST_STREAM PROTOCOL_ERROR) instead of closing the whole connection, Envoy's default.
    /// Listeners only; a cluster's connections keep SwiftNIO's stream-level handling.
    public var streamErrorOnInvalidHTTPMessaging = false
    /// `connection_keepalive`: PING every `interval` and/or before a new stream on a connection
    /// idle for `idleInterval`; no answer within `timeout` closes the connection.
    public var keepalive: Keepalive?

    public struct Keepalive: Sendable, Equatable {
        /// A PING this long after the connection is ready and after each answer (nil: none).
        public var interval: Duration?
        /// How long a PING may wait for its answer; any frame received meanwhile extends it.
        public var timeout: Duration
        /// `interval_jitter`: up to this percentage of `interval` is added at random to each
        /// interval (Envoy's default 15), so PINGs of many connections do not line up.
        public var jitterPercent: Double = 15
        /// `connection_idle_interval` (upstream connections): a PING goes ahead of a new stream
        /// on a connection that received nothing for this long.
        public var idleInterval: Duration?

        public init(interval: Duration?, timeout: Duration, jitterPercent: Double = 15, idleInterval: Duration? = nil) {
            self.interval = interval
            self.timeout = timeout
            self.jitterPercent = jitterPercent
            self.idleInterval = idleInterval
        }

        /// The time until the next interval PING: `interval` plus its random jitter (nil: none).
        public func nextInterval<G: RandomNumberGenerator>(using generator: inout G) -> Duration? {
            interval.map { $0 + $0 * (jitterPercent / 100 * Double.random(in: 0...1, using: &generator)) }
        }

        public func nextInterval() -> Duration? {
            var generator = SystemRandomNumberGenerator()
            return nextInterval(using: &generator)
        }
    }

    public init() {}

    static let windowRange: ClosedRange<Int64> = 65535...2_147_483_647

    /// Decodes the message at `r` (finishes it). `upstream`: the options of a cluster's
    /// connections (`connection_idle_interval` applies only there, as in Envoy's client codec).
    /// `streamErrorOnInvalidHTTPMessage`: the connection manager's field of that name, if set.
    public static func decode(_ r: ObjectReader, upstream: Bool = false,
                              streamErrorOnInvalidHTTPMessage: Bool? = nil) -> Http2ProtocolOptions {
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
        if r.bool("allow_connect") == true { options.allowConnect = true }
        if !upstream {
            // Envoy's order: the override, the connection manager's field, the deprecated one.
            let legacy = r.bool("stream_error_on_invalid_http_messaging")
            options.streamErrorOnInvalidHTTPMessaging = r.bool("override_stream_error_on_invalid_http_message")
                ?? streamErrorOnInvalidHTTPMessage ?? legacy ?? false
        }
        if let keepalive = r.object("connection_keepalive", "envoy.config.core.v3.KeepaliveSettings") {
            options.keepalive = decodeKeepalive(keepalive, upstream: upstream)
        }
        return options
    }

    private static func decodeKeepalive(_ keepalive: ObjectReader, upstream: Bool) -> Keepalive? {
        defer { keepalive.finish() }
        // Zero means "none" for the intervals, as in Envoy.
        let interval = keepalive.duration("interval", positive: false).flatMap { $0 > .zero ? $0 : nil }
        let timeout = keepalive.duration("timeout", positive: true)
        var idle: Duration?
        if keepalive.has("connection_idle_interval") {
            if upstream {
                idle = keepalive.duration("connection_idle_interval", positive: false).flatMap { $0 > .zero ? $0 : nil }
            } else {
                keepalive.diagnostics.error(keepalive.location(of: "connection_idle_interval"), keepalive.join("connection_idle_interval"),
                                            "connection_idle_interval PINGs a cluster's connection before a new stream; clients open the streams of a listener's connections, so it has no effect here (Envoy ignores it)",
                                            fix: "remove it, or set it in the cluster's http2_protocol_options")
                keepalive.accept("connection_idle_interval")
            }
        }
        if timeout == nil && !keepalive.has("timeout") {
            keepalive.diagnostics.error(keepalive.node.location, keepalive.join("timeout"), "KeepaliveSettings needs a timeout",
                                        fix: "add `timeout: 5s` (how long to wait for the PING's answer)")
        }
        if interval == nil && idle == nil && !keepalive.has("interval") && !keepalive.has("connection_idle_interval") {
            keepalive.diagnostics.error(keepalive.node.location, keepalive.join("interval"),
                                        "KeepaliveSettings without an interval\(upstream ? " or connection_idle_interval" : "") sends no PING",
                                        fix: upstream ? "add `interval: 30s` (a PING every 30 s) or `connection_idle_interval: 60s` (a PING before a stream on an idle connection)"
                                            : "add `interval: 30s` (how often to send a PING)")
        }
        var jitter = 15.0
        if let percent = keepalive.object("interval_jitter", "envoy.type.v3.Percent") {
            defer { percent.finish() }
            jitter = percent.double("value", in: 0...100, fix: "use a percentage between 0 and 100, e.g. `interval_jitter: {value: 15}`") ?? jitter
        }
        guard let timeout, interval != nil || idle != nil else { return nil }
        return Keepalive(interval: interval, timeout: timeout, jitterPercent: jitter, idleInterval: idle)
    }
}
