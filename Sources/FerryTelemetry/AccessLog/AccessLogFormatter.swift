import FerryConfig

/// Lays out one access-log line (or a local-reply body, or a header value) for a request, with
/// Envoy's substitution-format semantics.
///
/// All parsing happens in `init`: the format becomes a flat list of byte runs and compiled
/// commands (JSON punctuation, keys and literal values pre-encoded), so `format` is one loop
/// appending to a `[UInt8]` reserved to the expected size. A formatter is immutable and can be
/// shared by every event loop.
///
/// Output, as Envoy 1.40 prints it:
/// - text: a missing value prints `-`; the line ends with whatever the format ends with (Envoy's
///   default format ends with "\n");
/// - JSON: one object per line followed by "\n", members sorted by key (byte order). A member that
///   is exactly one command is typed: a number for counts, codes, ports and durations, a string
///   otherwise, `null` when missing. Text mixing literals and commands is a string with `-` for
///   missing values. Literal integers that fit in 32 bits stay numbers; other literal numbers
///   become strings, as Envoy's YAML loader makes them;
/// - `omitEmpty` (`omit_empty_values`): drops members whose value is `null` (a missing single
///   command or a literal null) and objects left with no member; missing values inside strings
///   print nothing. Empty strings are kept.
public struct AccessLogFormatter: Sendable {
    /// One step of a compiled format.
    enum Segment: Sendable {
        case bytes([UInt8])
        /// A value inside text or inside a JSON string (`escaped`); `missing` stands in when absent.
        case inline(LogCommand, escaped: Bool, missing: Placeholder)
        /// A JSON member value that is one command: number, string, or null.
        case typed(LogCommand)
    }

    /// What an absent value inside text prints. (No payload: segments are copied per request.)
    enum Placeholder: Sendable {
        case dash
        case nothing
    }

    enum Program: Sendable {
        case flat([Segment])
        /// omit_empty_values must decide per member whether to keep it, so it walks the tree.
        case omittingEmpty([JSONMember])
    }

    let program: Program
    /// Initial capacity of a line: literal bytes plus a typical size per command.
    let capacity: Int

    public init(_ format: LogFormat) {
        switch format {
        case .text(let string):
            program = .flat(Self.segments(string, escaped: false, missing: .dash))
        case .json(let members, omitEmpty: false):
            var segments: [Segment] = []
            JSONNode.object(JSONNode.compile(members, missing: .dash)).flatten(into: &segments)
            segments.append(.bytes([UInt8(ascii: "\n")]))
            program = .flat(Self.merged(segments))
        case .json(let members, omitEmpty: true):
            program = .omittingEmpty(JSONNode.compile(members, missing: .nothing))
        }
        capacity = max(128, Self.estimate(program))
    }

    /// The line as bytes, ready for a sink.
    public func format(_ info: some StreamInfo) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(capacity)
        switch program {
        case .flat(let segments):
            Self.run(segments, info, into: &out)
        case .omittingEmpty(let members):
            _ = JSONNode.writeObject(members, info, omitting: true, into: &out)
            out.append(UInt8(ascii: "\n"))
        }
        return out
    }

    public func formatString(_ info: some StreamInfo) -> String {
        String(decoding: format(info), as: UTF8.self)
    }

    /// Evaluates one format string as Envoy does for local-reply bodies: missing values print
    /// `-`. It compiles on every call; keep an `AccessLogFormatter(.text(format))` on hot paths.
    public static func evaluate(_ format: FormatString, _ info: some StreamInfo) -> String {
        evaluate(format, info, missing: .dash)
    }

    /// Evaluates a header value (`request_headers_to_add` and friends): Envoy substitutes an
    /// empty string for a missing value there, and does not add a header whose value is empty.
    public static func evaluateHeaderValue(_ format: FormatString, _ info: some StreamInfo) -> String {
        evaluate(format, info, missing: .nothing)
    }

    private static func evaluate(_ format: FormatString, _ info: some StreamInfo, missing: Placeholder) -> String {
        if format.isLiteral { return format.literalValue }
        var out: [UInt8] = []
        run(segments(format, escaped: false, missing: missing), info, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    static func segments(_ format: FormatString, escaped: Bool, missing: Placeholder) -> [Segment] {
        format.tokens.map { token in
            switch token {
            case .literal(let text):
                if escaped {
                    var bytes: [UInt8] = []
                    JSONText.appendEscaped(text.utf8, to: &bytes)
                    return .bytes(bytes)
                }
                return .bytes(Array(text.utf8))
            case .command(let command):
                return .inline(LogCommand(command), escaped: escaped, missing: missing)
            }
        }
    }

    /// Joins neighbouring byte runs so the loop appends each literal stretch in one call.
    static func merged(_ segments: [Segment]) -> [Segment] {
        var result: [Segment] = []
        for segment in segments {
            if case .bytes(let next) = segment, case .bytes(let previous)? = result.last {
                result[result.count - 1] = .bytes(previous + next)
            } else {
                result.append(segment)
            }
        }
        return result
    }

    static func run<Info: StreamInfo>(_ segments: [Segment], _ info: Info, into out: inout [UInt8]) {
        for segment in segments {
            switch segment {
            case .bytes(let bytes):
                out.append(contentsOf: bytes)
            case .inline(let command, let escaped, let missing):
                let start = out.count
                if command.write(info, into: &out) {
                    if escaped { JSONText.escapeTail(&out, from: start) }
                } else if case .dash = missing {
                    out.append(UInt8(ascii: "-"))
                }
            case .typed(let command):
                _ = JSONNode.writeTyped(command, info, into: &out)
            }
        }
    }

    private static func estimate(_ program: Program) -> Int {
        func estimate(_ segments: [Segment]) -> Int {
            segments.reduce(0) { total, segment in
                if case .bytes(let bytes) = segment { total + bytes.count } else { total + 32 }
            }
        }
        func estimate(_ node: JSONNode) -> Int {
            switch node {
            case .literal(let bytes): bytes.count
            case .null: 4
            case .typed: 32
            case .text(let segments): estimate(segments)
            case .object(let members): members.reduce(2) { $0 + $1.key.count + 1 + estimate($1.value) }
            }
        }
        switch program {
        case .flat(let segments): return estimate(segments)
        case .omittingEmpty(let members): return estimate(.object(members)) + 1
        }
    }
}
