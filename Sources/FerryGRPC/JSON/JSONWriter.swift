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

    mutating func writeString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x08: append("\\b")
            case 0x0C: append("\\f")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                bytes.append(Self.hex[Int(b >> 4)])
                bytes.append(Self.hex[Int(b & 15)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
