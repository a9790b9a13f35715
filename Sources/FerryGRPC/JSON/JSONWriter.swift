/// Writes JSON text. With `whitespace`, output is laid out as protobuf's C++ printer does
/// (Envoy's `add_whitespace`): one space of indent per level, `": "` after keys, a final newline.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private let whitespace: Bool

    public init(whitespace: Bool = false) {
        self.whitespace = whitespace
    }

    public static func serialize(_ value: JSONValue, whitespace: Bool = false) -> [UInt8] {
        var writer = JSONWriter(whitespace: whitespace)
        writer.write(value, level: 0)
        if whitespace { writer.bytes.append(0x0A) }
        return writer.bytes
    }

    mutating func write(_ value: JSONValue, level: Int) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .number(let n): append(n)
        case .string(let s): writeString(s)
        case .array(let elements):
            writeContainer(open: "[", close: "]", count: elements.count, level: level) { w, i in
                w.write(elements[i], level: level + 1)
            }
        case .object(let members):
            writeContainer(open: "{", close: "}", count: members.count, level: level) { w, i in
                w.writeString(members[i].key)
                w.append(w.whitespace ? ": " : ":")
                w.write(members[i].value, level: level + 1)
            }
        }
    }

    private mutating func writeContainer(open: String, close: String, count: Int, level: Int,
                                         element: (inout JSONWriter, Int) -> Void) {
        append(open)
        for i in 0..<count {
            if i > 0 { append(",") }
            newline(level + 1)
            element(&self, i)
        }
        if count > 0 { newline(level) }
        append(close)
    }

    private mutating func newline(_ level: Int) {
        guard whitespace else { return }
        bytes.append(0x0A)
        bytes.append(contentsOf: repeatElement(0x20, count: level))
    }

    private mutating func append(_ s: String) { bytes.append(contentsOf: s.utf8) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Escapes as protobuf's C++ printer (Envoy's output): the JSON-mandated characters, `<`
    /// and `>`, and the invisible or direction-changing code points of `needsEscape`.
    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for scalar in s.unicodeScalars {
            switch scalar.value {
            case 0x22: append("\\\"")
            case 0x5C: append("\\\\")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case let v where Self.needsEscape(v):
                if v > 0xFFFF {
                    let u = v - 0x10000
                    appendEscape(0xD800 + (u >> 10))
                    appendEscape(0xDC00 + (u & 0x3FF))
                } else {
                    appendEscape(v)
                }
            default: bytes.append(contentsOf: UTF8.encode(scalar)!)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func appendEscape(_ unit: UInt32) {
        append("\\u")
        for shift in [12, 8, 4, 0] { bytes.append(Self.hex[Int(unit >> UInt32(shift) & 15)]) }
    }

    static func needsEscape(_ v: UInt32) -> Bool {
        switch v {
        case 0..<0x20, 0x3C, 0x3E, 0x7F...0x9F, 0xAD, 0x600...0x603, 0x6DD, 0x70F, 0x17B4...0x17B5, 0x200B...0x200F,
            0x2028...0x202E, 0x2060...0x2064, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFB, 0xE0001, 0xE0020...0xE007F:
            return true
        default:
            return false
        }
    }
}
