import FerryConfig

/// A `json_format` template compiled for `AccessLogFormatter`: literal values pre-encoded,
/// members sorted by key in byte order (Envoy 1.40 emits them so, whatever the config order).
indirect enum JSONNode: Sendable {
    /// A literal number, bool or string, already encoded.
    case literal([UInt8])
    /// A literal null: kept as `null`, dropped by omit_empty_values (as Envoy does).
    case null
    /// A string that is exactly one command: typed.
    case typed(LogCommand)
    /// A string mixing literals and commands: always a JSON string, quotes included.
    case text([AccessLogFormatter.Segment])
    case object([JSONMember])

    static func compile(_ members: [JSONTemplate.Member], missing: AccessLogFormatter.Placeholder) -> [JSONMember] {
        members.enumerated()
            .sorted { a, b in
                a.element.key == b.element.key
                    ? a.offset < b.offset
                    : a.element.key.utf8.lexicographicallyPrecedes(b.element.key.utf8)
            }
            .map { member in
                JSONMember(key: JSONText.memberKey(member.element.key),
                           value: compile(member.element.value, missing: missing))
            }
    }

    static func compile(_ template: JSONTemplate, missing: AccessLogFormatter.Placeholder) -> JSONNode {
        switch template {
        case .object(let members):
            return .object(compile(members, missing: missing))
        case .null:
            return .null
        case .bool(let value):
            return .literal(Array((value ? "true" : "false").utf8))
        case .number(let text):
            return .literal(JSONText.yamlNumber(text))
        case .string(let format):
            if format.isLiteral { return .literal(JSONText.quoted(format.literalValue)) }
            if format.tokens.count == 1, case .command(let command) = format.tokens[0] {
                return .typed(LogCommand(command))
            }
            let quote = AccessLogFormatter.Segment.bytes([UInt8(ascii: "\"")])
            return .text([quote] + AccessLogFormatter.segments(format, escaped: true, missing: missing) + [quote])
        }
    }

    /// Appends this node as segments, for formats that keep every member.
    func flatten(into segments: inout [AccessLogFormatter.Segment]) {
        switch self {
        case .literal(let bytes): segments.append(.bytes(bytes))
        case .null: segments.append(.bytes(Array("null".utf8)))
        case .typed(let command): segments.append(.typed(command))
        case .text(let parts): segments.append(contentsOf: parts)
        case .object(let members):
            segments.append(.bytes([UInt8(ascii: "{")]))
            for (index, member) in members.enumerated() {
                if index > 0 { segments.append(.bytes([UInt8(ascii: ",")])) }
                segments.append(.bytes(member.key))
                member.value.flatten(into: &segments)
            }
            segments.append(.bytes([UInt8(ascii: "}")]))
        }
    }

    /// Appends this node; returns false when it is null or an empty object, so that an omitting
    /// caller can take the member back out.
    func write<Info: StreamInfo>(_ info: Info, omitting: Bool, into out: inout [UInt8]) -> Bool {
        switch self {
        case .literal(let bytes):
            out.append(contentsOf: bytes)
            return true
        case .null:
            out.append(contentsOf: "null".utf8)
            return false
        case .typed(let command):
            return Self.writeTyped(command, info, into: &out)
        case .text(let segments):
            AccessLogFormatter.run(segments, info, into: &out)
            return true
        case .object(let members):
            return Self.writeObject(members, info, omitting: omitting, into: &out)
        }
    }

    static func writeObject<Info: StreamInfo>(_ members: [JSONMember], _ info: Info, omitting: Bool,
                                              into out: inout [UInt8]) -> Bool {
        out.append(UInt8(ascii: "{"))
        var written = 0
        for member in members {
            let start = out.count
            if written > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: member.key)
            if member.value.write(info, omitting: omitting, into: &out) || !omitting {
                written += 1
            } else {
                out.removeSubrange(start...)
            }
        }
        out.append(UInt8(ascii: "}"))
        return written > 0
    }

    /// A single-command value: digits for numeric commands, a quoted string otherwise, `null`
    /// when missing (returning false).
    static func writeTyped<Info: StreamInfo>(_ command: LogCommand, _ info: Info, into out: inout [UInt8]) -> Bool {
        if command.isNumeric {
            if command.write(info, into: &out) { return true }
        } else {
            out.append(UInt8(ascii: "\""))
            let start = out.count
            if command.write(info, into: &out) {
                JSONText.escapeTail(&out, from: start)
                out.append(UInt8(ascii: "\""))
                return true
            }
            out.removeLast()
        }
        out.append(contentsOf: "null".utf8)
        return false
    }
}

struct JSONMember: Sendable {
    /// `"key":`, escaped.
    let key: [UInt8]
    let value: JSONNode
}

/// JSON string encoding as Envoy's sanitizer does it: `\"`, `\\`, `\b \f \n \r \t`, other
/// control characters as `\u00xx` (lower-case hex); DEL, `/` and UTF-8 pass through.
enum JSONText {
    static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    static func appendEscaped(_ bytes: some Sequence<UInt8>, to out: inout [UInt8]) {
        for byte in bytes {
            guard needsEscape(byte) else {
                out.append(byte)
                continue
            }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(byte)
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: "u00".utf8)
                out.append(byte >> 4 == 0 ? UInt8(ascii: "0") : UInt8(ascii: "1"))
                let low = byte & 0xF
                out.append(low < 10 ? UInt8(ascii: "0") + low : UInt8(ascii: "a") + low - 10)
            }
        }
    }

    /// Escapes, in place, what a command appended from `start` on. Most values need nothing, so
    /// this only scans unless an escape is due.
    static func escapeTail(_ out: inout [UInt8], from start: Int) {
        guard let first = out[start...].firstIndex(where: needsEscape) else { return }
        let tail = Array(out[first...])
        out.removeSubrange(first...)
        appendEscaped(tail, to: &out)
    }

    static func quoted(_ text: String) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        appendEscaped(text.utf8, to: &out)
        out.append(UInt8(ascii: "\""))
        return out
    }

    static func memberKey(_ key: String) -> [UInt8] {
        quoted(key) + [UInt8(ascii: ":")]
    }

    /// A literal number as Envoy's YAML loader passes it on: integers that fit in Int32 stay
    /// numbers (in canonical form: `+5` → 5, `0x10` → 16); anything else (1.5, 1e3,
    /// 10000000000) becomes the string of its text.
    static func yamlNumber(_ text: String) -> [UInt8] {
        let hex = text.hasPrefix("0x") ? Int32(text.dropFirst(2), radix: 16) : nil
        guard let value = Int32(text) ?? hex else { return quoted(text) }
        var out: [UInt8] = []
        out.appendDecimal(Int64(value))
        return out
    }
}
