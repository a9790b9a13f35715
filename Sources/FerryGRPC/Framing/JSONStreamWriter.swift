/// Lays out the JSON messages of a server-streaming response as Envoy's transcoder sends them:
/// a JSON array written as the messages come (`[m1,m2]`), one message per line with
/// `stream_newline_delimited`, or server-sent events (`data: m1\n\n`) with
/// `stream_sse_style_delimited` (which wins when both are set, as in Envoy).
///
///     var stream = JSONStreamWriter(options: config.options.printOptions)
///     send(stream.next(try config.responseJSON(message: m, binding: b)))  // per message
///     send(stream.finish())                                               // at the end
public struct JSONStreamWriter: Sendable {
    enum Style {
        case array, newlineDelimited, serverSentEvents
    }

    let style: Style
    private var count = 0

    public init(options: JSONPrintOptions) {
        style = options.streamSSEStyleDelimited ? .serverSentEvents : options.streamNewlineDelimited ? .newlineDelimited : .array
    }

    /// The bytes to send for the next message's JSON.
    public mutating func next(_ json: [UInt8]) -> [UInt8] {
        defer { count += 1 }
        switch style {
        case .array: return Array((count == 0 ? "[" : ",").utf8) + json
        case .newlineDelimited: return json + [0x0A]
        case .serverSentEvents: return Array("data: ".utf8) + json + [0x0A, 0x0A]
        }
    }

    /// The bytes that end the stream (`]` closing the array, `[]` for an empty one).
    public func finish() -> [UInt8] {
        guard style == .array else { return [] }
        return Array((count == 0 ? "[]" : "]").utf8)
    }
}
